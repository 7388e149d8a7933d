"""After a run the archived batch is marked; an older batch replayed after a newer one leaves it alone."""

import json

import dagster as dg

from nacento_pipeline.defs.constants import BATCH_JOB, PARTITIONS_NAME, STATUS_SENSOR, TAG_FORCE
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.defs.sensors.batch_status_sensor import mark_batch
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.storage.drop.archive import load_manifest, read_status
from nacento_pipeline.storage.drop.registration import register_drops
from nacento_pipeline.storage.drop.samples import drop_sample_batch, image_value


def test_run_status_sensor_marks_the_archived_batch(local_pipeline, instance):
    p = local_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    run = instance.get_run_by_id(result.run_id)
    sensor = p.defs.resolve_sensor_def(STATUS_SENSOR)
    success_event = next(
        e
        for e in instance.all_logs(result.run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_SUCCESS"
    ).dagster_event
    resources = dict(p.defs.resources)
    with dg.build_run_status_sensor_context(
        sensor_name=STATUS_SENSOR,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=success_event,
        resources=resources,
    ) as ctx:
        sensor(ctx)
    manifest = load_manifest(p.store, p.settings.archive_prefix, batch.batch_key)
    status = read_status(p.store, manifest)
    assert status["status"] == "succeeded" and status["run_id"] == result.run_id

    # a run without an archive (e.g. a typo'd manual partition) is simply not marked
    resource: ObjectStoreResource = resources["object_store"]
    fake = run.with_tags({"dagster/partition": "media_unknown"})
    assert mark_batch(resource, resources["drop_zone"], fake, "failed") is None
    assert json.loads(p.store.get(manifest.prefix + "status.json"))["status"] == "succeeded"


def _gallery_labels(p, sku):
    g = p.gallery()
    return g[g["sku"] == sku]["label"].tolist()


def test_older_batch_does_not_overwrite_newer_unless_forced(local_pipeline, instance):
    p = local_pipeline
    old = drop_sample_batch(p.store, p.settings.drop_prefix, generation=0).batch_key
    register_drops(
        p.store,
        drop_prefix=p.settings.drop_prefix,
        archive_prefix=p.settings.archive_prefix,
        rejected_prefix=p.settings.rejected_prefix,
    )
    new = drop_sample_batch(p.store, p.settings.drop_prefix, generation=1).batch_key
    register_drops(
        p.store,
        drop_prefix=p.settings.drop_prefix,
        archive_prefix=p.settings.archive_prefix,
        rejected_prefix=p.settings.rejected_prefix,
    )
    instance.add_dynamic_partitions(PARTITIONS_NAME, [old, new])
    job = p.defs.resolve_job_def(BATCH_JOB)

    assert job.execute_in_process(instance=instance, partition_key=new).success
    newer = p.table_snapshot()
    assert _gallery_labels(p, "NAC-1002")[1] == "NAC-1002 back (new label)"

    replay = job.execute_in_process(instance=instance, partition_key=old)
    assert replay.success
    mat = {
        e.event_specific_data.materialization.asset_key.to_user_string(): {
            k: v.value for k, v in e.event_specific_data.materialization.metadata.items()
        }
        for e in replay.get_asset_materialization_events()
    }
    assert mat["magento_gallery"]["stale"] == 12  # SKUs
    assert mat["magento_gallery"]["write_statements"] == 0
    assert p.table_snapshot() == newer

    forced = job.execute_in_process(
        instance=instance,
        partition_key=old,
        run_config={"ops": {"gallery_delta": {"config": {"force": True}}}},
    )
    assert forced.success
    checks = {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in forced.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks["rows_written_match_plan"] is True  # the write applied exactly the forced plan
    assert instance.get_run_by_id(forced.run_id).tags[TAG_FORCE] == "true"
    assert _gallery_labels(p, "NAC-1002")[1] == "NAC-1002 back"
    assert image_value("NAC-1008", "side") in p.gallery()["value"].tolist()
