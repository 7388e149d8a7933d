"""pim_batch_job end to end on MariaDB + moto S3: the galleries written, the metadata, the checks."""

import dagster as dg
import pytest

from nacento_pipeline.defs.constants import BATCH_JOB, PARTITIONS_NAME, TAG_REINDEX
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.storage.drop.samples import (
    DEMO_SKUS,
    VIEWS,
    drop_sample_batch,
    image_value,
    put_demo_images,
)
from nacento_pipeline_tests.defs.harness import materializations

pytestmark = pytest.mark.every_s3_server  # moto and the JuiceFS gateway


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_first_run_writes_every_gallery_and_reports_it(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    outcome = tick_and_run(p.defs, instance)
    [result] = outcome.results
    assert result.success
    assert outcome.requested == (batch.batch_key,)

    gallery = p.gallery()
    assert len(gallery) == len(DEMO_SKUS) * len(VIEWS)
    first = gallery[gallery["sku"] == "NAC-1001"]
    assert first["value"].tolist() == [image_value("NAC-1001", v) for v in VIEWS]
    assert first["label"].tolist() == [f"NAC-1001 {v}" for v in VIEWS]
    assert first["position"].tolist() == [1, 2, 3]
    assert first["etag"].str.len().eq(32).all()  # MD5 ETags of single-part uploads, stored without quotes
    roles = p.roles()
    base = roles[(roles["sku"] == "NAC-1001") & (roles["role"] == "image")]["value"].tolist()
    assert base == [image_value("NAC-1001", "front")]
    swatch = roles[(roles["sku"] == "NAC-1010") & (roles["role"] == "swatch_image")]["value"].tolist()
    assert swatch == [image_value("NAC-1010", "front")]

    meta = materializations(result)
    assert meta["pim_batch"]["images"] == 36 and meta["pim_batch"]["rejected"] == 0
    assert meta["image_etags"]["missing"] == 0
    assert meta["image_etags"]["s3_requests"] <= 3  # 36 dense keys: a LIST page or so, no HEAD per image
    # a LIST carries no Content-Type: the metadata says which objects had theirs checked (issue 20)
    assert meta["image_etags"]["content_type_known"] == 0
    assert "0 of 36 existing objects" in meta["image_etags"]["content_type_check"]
    assert "LIST reports no Content-Type" in meta["image_etags"]["content_type_check"]
    assert meta["gallery_delta"]["inserted"] == 36
    assert meta["magento_gallery"]["inserted"] == 36
    assert meta["reindex_decision"]["partial"] + meta["reindex_decision"]["full"] >= 1
    checks = _checks(result)
    # no Magento cron here: the changelog ids stay pending, so the batch is written but not yet fresh
    assert checks.pop("storefront_fresh") is False
    assert all(checks.values()), checks
    run = instance.get_run_by_id(result.run_id)
    assert run.tags[TAG_REINDEX] in ("full", "partial")


def test_second_batch_writes_only_what_changed(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    drop_sample_batch(p.store, p.settings.drop_prefix)
    tick_and_run(p.defs, instance)
    before = p.gallery().set_index(["sku", "value"])

    # new content for two front images, relabelled backs, a disabled side (JSON part), one side removed
    put_demo_images(p.store, p.settings.media_prefix, generation=1)
    drop_sample_batch(p.store, p.settings.drop_prefix, generation=1)
    outcome = tick_and_run(p.defs, instance)
    [result] = outcome.results
    assert result.success
    delta = materializations(result)["magento_gallery"]
    assert delta["updated_value"] == 2
    assert delta["purged"] == 1
    assert delta["inserted"] == 0
    after = p.gallery().set_index(["sku", "value"])
    changed_front = ("NAC-1001", image_value("NAC-1001", "front"))
    assert after.loc[changed_front, "etag"] != before.loc[changed_front, "etag"]
    assert ("NAC-1008", image_value("NAC-1008", "side")) not in after.index
    assert after.loc[("NAC-1002", image_value("NAC-1002", "back")), "label"] == "NAC-1002 back (new label)"
    assert after.loc[("NAC-1012", image_value("NAC-1012", "side")), "disabled"] == 1


def test_rerun_of_the_same_partition_writes_nothing(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    tick_and_run(p.defs, instance)
    snapshot = p.table_snapshot()
    result = p.defs.resolve_job_def(BATCH_JOB).execute_in_process(
        instance=instance, partition_key=batch.batch_key
    )
    assert result.success
    meta = materializations(result)["magento_gallery"]
    assert meta["write_statements"] == 0
    plan = materializations(result)["gallery_delta"]
    assert plan["skus"] == 0 and plan["unchanged_skus"] == len(DEMO_SKUS)  # a no-op plans no SKU
    assert p.table_snapshot() == snapshot


def _drop(p, name: str, text: str) -> str:
    drop = p.settings.drop_prefix
    p.store.put(f"{drop}import-media_{name}_01.csv", text.encode())
    p.store.put(f"{drop}import-media_{name}.ok", b"")
    return f"media_{name}"


def test_checks_fail_when_they_should(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    # a rejected row (label too long), an unknown SKU, and a product whose base role points outside its
    # gallery
    long_label = "x" * 300
    text = (
        "\n".join(
            [
                "sku,file_path,label,position,disabled,roles",
                f"NAC-1001,{image_value('NAC-1001', 'front')},ok,1,0,base",
                f"NAC-1001,{image_value('NAC-1001', 'back')},{long_label},2,0,",
                f"NO-SUCH-SKU,{image_value('NAC-1002', 'front')},x,1,0,base",
            ]
        )
        + "\n"
    )
    key = _drop(p, "badrows", text)
    # NAC-1001 has a rejected image, so role sync is skipped for it: a role pointing elsewhere stays and is
    # caught
    t = p.db.tables
    attrs = p.db.attribute_ids()
    with p.db.engine.begin() as conn:
        ids = dict(
            conn.execute(t.product.select().with_only_columns(t.product.c.sku, t.product.c[t.link])).all()
        )
        conn.execute(
            t.varchar.insert().values(
                **{t.link: ids["NAC-1001"]},
                attribute_id=attrs.roles["thumbnail"],
                store_id=0,
                value="/z/z/not-in-gallery.png",
            )
        )
    outcome = tick_and_run(p.defs, instance)
    [result] = outcome.results
    assert result.success  # row-level problems are reported, not fatal
    checks = _checks(result)
    assert checks["no_rejected_rows"] is False
    assert checks["all_skus_known"] is False
    assert checks["roles_point_at_gallery_paths"] is False
    assert checks["rows_written_match_plan"] is True
    assert checks["written_paths_exist_in_storage"] is True
    gallery = p.gallery()
    assert gallery["sku"].tolist() == ["NAC-1001"]  # the valid image of the known SKU only
    assert key in instance.get_dynamic_partitions(PARTITIONS_NAME)


def test_unreadable_header_is_rejected_by_the_sensor_without_a_run(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    key = _drop(p, "broken", "sku,label\nNAC-1001,no file_path column\n")
    outcome = tick_and_run(p.defs, instance)
    assert not outcome.results
    reports = [
        k for k in (o.key for o in p.store.list(p.settings.rejected_prefix)) if k.endswith("REPORT.md")
    ]
    assert (
        len(reports) == 1
        and "import-media_broken_01.csv:1: CSV header has neither" in p.store.get(reports[0]).decode()
    )
    assert p.gallery().empty
    assert key not in instance.get_dynamic_partitions(PARTITIONS_NAME)


def test_unreadable_bunch_fails_the_run_and_changes_nothing(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    # Broken past the 64 KiB the sensor reads: registered, then refused by the run.
    rows = "".join(f"NAC-1001,/n/a/nac-{i}.png\n" for i in range(4000))
    key = _drop(p, "broken", "sku,file_path\n" + rows + 'NAC-1002,"/n/a/open.png\n')
    outcome = tick_and_run(p.defs, instance)
    [result] = outcome.results
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message + str(failure.event_specific_data.user_failure_data)
    assert "import-media_broken_01.csv" in message and "4002" in message
    assert p.gallery().empty
    assert key in instance.get_dynamic_partitions(PARTITIONS_NAME)


def test_validation_job_plans_without_writing(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch_key, result = p.validate_sample_batch(instance)
    assert result.success
    meta = materializations(result)
    assert set(meta) == {"pim_batch", "image_etags", "gallery_delta"}
    assert meta["gallery_delta"]["inserted"] == 36
    assert p.gallery().empty
    assert instance.get_materialized_partitions(dg.AssetKey("magento_gallery")) == set()
