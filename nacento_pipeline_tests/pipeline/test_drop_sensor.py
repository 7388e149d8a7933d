"""pim_drop_sensor on a real S3 endpoint (moto server): registration, run requests exactly once, rejections."""

import json

import dagster as dg

from nacento_pipeline.constants import DROP_SENSOR, PARTITIONS_NAME, TAG_ARCHIVE_VERSION, TAG_OK_ETAG
from nacento_pipeline.demo_data import drop_sample_batch


def _tick(pipeline, instance, cursor=None):
    sensor = pipeline.defs.resolve_sensor_def(DROP_SENSOR)
    with dg.build_sensor_context(instance=instance, definitions=pipeline.defs, sensor_name=DROP_SENSOR,
                                 resources=dict(pipeline.defs.resources or {}), cursor=cursor) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def _keys(store, prefix):
    return sorted(o.key for o in store.list(prefix))


def test_complete_batch_becomes_partition_and_one_run(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    result = _tick(p, instance)

    assert [r.partition_key for r in result.run_requests] == [batch.batch_key]
    request = result.run_requests[0]
    ok_etag = request.tags[TAG_OK_ETAG]
    assert request.run_key.startswith(f"{batch.batch_key}:{ok_etag}:")
    [add] = result.dynamic_partitions_requests
    assert list(add.partition_keys) == [batch.batch_key]
    # archived immutably with a manifest, drop prefix cleaned up
    version = request.tags[TAG_ARCHIVE_VERSION]
    archived = _keys(p.store, f"{p.settings.archive_prefix}{batch.batch_key}/{version}/")
    assert [k.rsplit("/", 1)[-1] for k in archived] == sorted(
        [k.rsplit("/", 1)[-1] for k in batch.keys] + ["manifest.json"])
    assert _keys(p.store, p.settings.drop_prefix) == []
    manifest = json.loads(p.store.get(f"{p.settings.archive_prefix}{batch.batch_key}/{version}/manifest.json"))
    assert manifest["ok_etag"] == ok_etag and len(manifest["files"]) == 2

    # second tick: nothing new
    instance.add_dynamic_partitions(PARTITIONS_NAME, [batch.batch_key])
    again = _tick(p, instance, cursor=result.cursor)
    assert again.run_requests == []
    assert again.dynamic_partitions_requests == []
    assert "no complete batch" in again.skip_reason.skip_message


def test_cleanup_failure_is_retried_without_a_second_run(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    # keep copies of the drop, as if the clean-up of the first tick had failed
    saved = {k: p.store.get(k) for k in batch.keys}
    first = _tick(p, instance)
    for key, data in saved.items():
        p.store.put(key, data)
    second = _tick(p, instance, cursor=first.cursor)
    assert [r.run_key for r in second.run_requests] == [r.run_key for r in first.run_requests]
    assert second.dynamic_partitions_requests == [] or instance.has_dynamic_partition(
        PARTITIONS_NAME, batch.batch_key) is False
    assert _keys(p.store, p.settings.drop_prefix) == []


def test_pending_bunch_waits_for_its_ok_file(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    p.store.put(f"{p.settings.drop_prefix}import-media_later_01.csv", b"sku,file_path\nNAC-1001,/n/a/x.png\n")
    result = _tick(p, instance)
    assert result.run_requests == []
    assert "wait for their OK file" in result.skip_reason.skip_message
    assert _keys(p.store, p.settings.drop_prefix) == [f"{p.settings.drop_prefix}import-media_later_01.csv"]


def test_invalid_batches_are_moved_aside_with_a_report(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    drop = p.settings.drop_prefix
    # OK file lists a bunch that is missing
    p.store.put(f"{drop}import-media_listed_01.csv", b"sku,file_path\nNAC-1001,/n/a/nac-1001-front.png\n")
    p.store.put(f"{drop}import-media_listed.ok", b"import-media_listed_01.csv\nimport-media_listed_02.csv\n")
    # a bunch that is not text
    p.store.put(f"{drop}import-media_binary_01.csv", b"\xff\xfe\x00garbage")
    p.store.put(f"{drop}import-media_binary.ok", b"")
    result = _tick(p, instance)

    assert result.run_requests == []
    reason = result.skip_reason.skip_message
    assert "import-media_listed_02.csv" in reason
    assert "not UTF-8" in reason
    assert _keys(p.store, drop) == []
    rejected = _keys(p.store, p.settings.rejected_prefix)
    reports = [k for k in rejected if k.endswith("report.json")]
    assert len(reports) == 2
    assert any(k.endswith("import-media_binary_01.csv") for k in rejected)
    report = json.loads(p.store.get(next(k for k in reports if "/media_listed/" in k)))
    assert "import-media_listed_02.csv" in report["reason"]


def test_changed_redrop_of_a_batch_is_a_new_run(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    drop = p.settings.drop_prefix
    p.store.put(f"{drop}import-media_same_01.csv", b"sku,file_path\nNAC-1001,/n/a/nac-1001-front.png\n")
    p.store.put(f"{drop}import-media_same.ok", b"")
    first = _tick(p, instance)
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["media_same"])
    p.store.put(f"{drop}import-media_same_01.csv", b"sku,file_path\nNAC-1001,/n/a/nac-1001-back.png\n")
    p.store.put(f"{drop}import-media_same.ok", b"")  # same empty OK file, same OK ETag
    second = _tick(p, instance, cursor=first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["media_same"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert second.dynamic_partitions_requests == []  # the partition exists already
    versions = {k.split("/")[2] for k in _keys(p.store, f"{p.settings.archive_prefix}media_same/")}
    assert len(versions) == 2
