"""pim_drop_sensor on real S3 endpoints (moto, JuiceFS gateway): registration, one run request, rejections."""

import json

import dagster as dg
import pytest

from nacento_pipeline.defs.constants import PARTITIONS_NAME, TAG_ARCHIVE_VERSION, TAG_OK_ETAG
from nacento_pipeline.storage.drop.samples import drop_sample_batch

pytestmark = pytest.mark.every_s3_server  # moto and the JuiceFS gateway


def _keys(store, prefix):
    return sorted(o.key for o in store.list(prefix))


def test_complete_batch_becomes_partition_and_one_run(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    result = p.tick(instance)

    assert [r.partition_key for r in result.run_requests] == [batch.batch_key]
    request = result.run_requests[0]
    ok_etag = request.tags[TAG_OK_ETAG]
    assert request.run_key.startswith(f"{batch.batch_key}:{ok_etag}:")
    [add] = result.dynamic_partitions_requests
    assert list(add.partition_keys) == [batch.batch_key]
    # archived immutably with a manifest
    version = request.tags[TAG_ARCHIVE_VERSION]
    archived = _keys(p.store, f"{p.settings.archive_prefix}{batch.batch_key}/{version}/")
    assert [k.rsplit("/", 1)[-1] for k in archived] == sorted(
        [k.rsplit("/", 1)[-1] for k in batch.keys] + ["manifest.json"]
    )
    manifest = json.loads(
        p.store.get(f"{p.settings.archive_prefix}{batch.batch_key}/{version}/manifest.json")
    )
    assert manifest["ok_etag"] == ok_etag and len(manifest["files"]) == 2
    # the drop stays until the partition is registered (the daemon does that after the tick)
    assert _keys(p.store, p.settings.drop_prefix) == sorted(batch.keys)

    instance.add_dynamic_partitions(PARTITIONS_NAME, [batch.batch_key])
    again = p.tick(instance, cursor=result.cursor)
    assert again.run_requests == []
    assert again.dynamic_partitions_requests == []
    assert _keys(p.store, p.settings.drop_prefix) == []  # cleaned up now
    assert "cleaned up 1 registered batch" in again.skip_reason.skip_message

    third = p.tick(instance, cursor=again.cursor)
    assert third.run_requests == [] and "no complete batch" in third.skip_reason.skip_message


def test_a_tick_lost_after_archiving_loses_no_batch(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    first = p.tick(instance)  # its result never reaches the daemon: no partition, no run
    second = p.tick(instance)
    assert [r.run_key for r in second.run_requests] == [r.run_key for r in first.run_requests]
    assert list(second.dynamic_partitions_requests[0].partition_keys) == [batch.batch_key]
    assert _keys(p.store, p.settings.drop_prefix) == sorted(batch.keys)


def test_one_failing_drop_does_not_stop_the_others(s3_mariadb_pipeline, instance, monkeypatch):
    from nacento_pipeline.storage.drop import registration as drop_registration

    p = s3_mariadb_pipeline
    drop = p.settings.drop_prefix
    for name in ("first", "second"):
        p.store.put(f"{drop}import-media_{name}_01.csv", b"sku,file_path\nNAC-1001,/n/a/nac-1001-front.png\n")
        p.store.put(f"{drop}import-media_{name}.ok", b"")
    real = drop_registration.archive_drop

    def flaky(store, dropped, prefix, *media_values):
        if dropped.batch_key == "media_first":
            raise RuntimeError("storage hiccup")
        return real(store, dropped, prefix, *media_values)

    monkeypatch.setattr(drop_registration, "archive_drop", flaky)
    result = p.tick(instance)
    assert [r.partition_key for r in result.run_requests] == ["media_second"]
    assert f"{drop}import-media_first.ok" in _keys(p.store, drop)  # left for the next tick
    monkeypatch.setattr(drop_registration, "archive_drop", real)
    retry = p.tick(instance, cursor=result.cursor)
    assert "media_first" in [r.partition_key for r in retry.run_requests]


def test_pending_bunch_waits_for_its_ok_file(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    p.store.put(f"{p.settings.drop_prefix}import-media_later_01.csv", b"sku,file_path\nNAC-1001,/n/a/x.png\n")
    result = p.tick(instance)
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
    result = p.tick(instance)

    assert result.run_requests == []
    reason = result.skip_reason.skip_message
    assert "import-media_listed_02.csv" in reason
    assert "not valid UTF-8" in reason
    assert _keys(p.store, drop) == []
    rejected = _keys(p.store, p.settings.rejected_prefix)
    reports = [k for k in rejected if k.endswith("report.json")]
    assert len(reports) == 2
    assert any(k.endswith("import-media_binary_01.csv") for k in rejected)
    assert reason.startswith("REJECTED 2 drop(s): ") and "REPORT.md" in reason
    events = {e.metadata["drop"].value: e for e in result.asset_events}
    assert set(events) == {"media_listed", "media_binary"}
    assert all(e.asset_key == dg.AssetKey("pim_drop_rejections") for e in events.values())
    report_url = events["media_listed"].metadata["report"].value
    assert report_url.endswith("REPORT.md") and p.settings.rejected_prefix in report_url
    report = json.loads(p.store.get(next(k for k in reports if "/media_listed/" in k)))
    assert "import-media_listed_02.csv" in report["reason"]


def test_changed_redrop_of_a_batch_is_a_new_run(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    drop = p.settings.drop_prefix
    p.store.put(f"{drop}import-media_same_01.csv", b"sku,file_path\nNAC-1001,/n/a/nac-1001-front.png\n")
    p.store.put(f"{drop}import-media_same.ok", b"")
    first = p.tick(instance)
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["media_same"])
    p.tick(instance, cursor=first.cursor)  # cleans the first drop up
    p.store.put(f"{drop}import-media_same_01.csv", b"sku,file_path\nNAC-1001,/n/a/nac-1001-back.png\n")
    p.store.put(f"{drop}import-media_same.ok", b"")  # same empty OK file, same OK ETag
    second = p.tick(instance, cursor=first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["media_same"]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert second.dynamic_partitions_requests == []  # the partition exists already
    versions = {k.split("/")[2] for k in _keys(p.store, f"{p.settings.archive_prefix}media_same/")}
    assert len(versions) == 2
