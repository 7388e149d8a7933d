"""After each `pim_batch_job` run, mark the archived batch with the outcome (status.json next to its manifest)."""


from datetime import UTC, datetime

import dagster as dg

from nacento_pipeline.constants import BATCH_JOB, STATUS_SENSOR, TAG_ARCHIVE_VERSION
from nacento_pipeline.jobs import pim_batch_job
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.storage.archive import ArchiveError, load_manifest, write_status


def mark_batch(object_store: ObjectStoreResource, run: dg.DagsterRun, status: str) -> str | None:
    """Write the run outcome next to the archived batch; returns the status key or None if not archived."""
    partition = run.tags.get("dagster/partition")
    if not partition:
        return None
    store = object_store.get_store()
    try:
        manifest = load_manifest(store, object_store.archive_prefix, partition, run.tags.get(TAG_ARCHIVE_VERSION))
    except ArchiveError:
        return None
    write_status(
        store,
        manifest,
        {"status": status, "run_id": run.run_id, "at": datetime.now(UTC).isoformat(), "batch_key": partition},
    )
    return manifest.prefix + "status.json"


def _status_sensor(name: str, run_status: dg.DagsterRunStatus, status: str):
    @dg.run_status_sensor(
        name=name,
        run_status=run_status,
        monitored_jobs=[pim_batch_job],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Marks the archived batch of each {status} `{BATCH_JOB}` run.",
    )
    def _sensor(context: dg.RunStatusSensorContext, object_store: ObjectStoreResource):
        key = mark_batch(object_store, context.dagster_run, status)
        partition = context.dagster_run.tags.get("dagster/partition")
        if key:
            context.log.info(f"batch {partition} marked {status}: {key}")
        else:
            context.log.warning(f"batch {partition}: no archived version to mark {status} (not registered by "
                                f"the sensor?)")

    return _sensor


pim_batch_success_sensor = _status_sensor(STATUS_SENSOR, dg.DagsterRunStatus.SUCCESS, "succeeded")
pim_batch_failure_sensor = _status_sensor(f"{STATUS_SENSOR}_failure", dg.DagsterRunStatus.FAILURE, "failed")
