"""After each `pim_batch_job` run, mark the archived batch with the outcome (status.json by its manifest)."""

import dagster as dg

from nacento_pipeline.defs.constants import BATCH_JOB, STATUS_SENSOR, TAG_ARCHIVE_VERSION
from nacento_pipeline.defs.jobs import pim_batch_job
from nacento_pipeline.resources.drop_zone import DropZoneResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.storage.drop.archive import mark_batch as mark_archived_batch


def mark_batch(
    object_store: ObjectStoreResource, drop_zone: DropZoneResource, run: dg.DagsterRun, status: str
) -> str | None:
    """Mark the archived batch of a `pim_batch_job` run with its outcome; None when the run has no archive."""
    partition = run.tags.get("dagster/partition")
    if not partition:
        return None
    return mark_archived_batch(
        object_store.get_store(),
        drop_zone.archive_prefix,
        partition,
        run.tags.get(TAG_ARCHIVE_VERSION),
        status,
        run.run_id,
    )


def _status_sensor(name: str, run_status: dg.DagsterRunStatus, status: str) -> dg.RunStatusSensorDefinition:
    @dg.run_status_sensor(
        name=name,
        run_status=run_status,
        monitored_jobs=[pim_batch_job],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Marks the archived batch of each {status} `{BATCH_JOB}` run.",
    )
    def _sensor(
        context: dg.RunStatusSensorContext, object_store: ObjectStoreResource, drop_zone: DropZoneResource
    ) -> None:
        key = mark_batch(object_store, drop_zone, context.dagster_run, status)
        partition = context.dagster_run.tags.get("dagster/partition")
        if key:
            context.log.info(f"batch {partition} marked {status}: {key}")
        else:
            context.log.warning(
                f"batch {partition}: no archived version to mark {status} (not registered by the sensor?)"
            )

    return _sensor


pim_batch_success_sensor = _status_sensor(STATUS_SENSOR, dg.DagsterRunStatus.SUCCESS, "succeeded")
pim_batch_failure_sensor = _status_sensor(f"{STATUS_SENSOR}_failure", dg.DagsterRunStatus.FAILURE, "failed")
