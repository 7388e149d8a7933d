"""The blast-radius guard on MariaDB + moto S3: an over-limit batch writes nothing and its check is red; the
same batch approved by the run tag naming it writes."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa
from dagster._core.events import DagsterEventType

from nacento_pipeline.defs.constants import BATCH_JOB, PARTITIONS_NAME, TAG_APPROVE_BLAST_RADIUS, VALIDATE_JOB
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.defs.sensors.alert_sensors import _run_failure_text
from nacento_pipeline.magento.demo import seed_demo_products
from nacento_pipeline.storage.drop.registration import register_drops
from nacento_pipeline.storage.drop.samples import png

PRODUCTS = [f"BR-{n:04d}" for n in range(1, 121)]


def image(sku: str, view: str) -> str:
    name = f"{sku.lower()}-{view}.png"
    return f"/{name[0]}/{name[1]}/{name}"


def seed_catalog(p) -> None:
    """120 more products, two images each in storage."""
    seed_demo_products(p.db.engine, PRODUCTS, p.settings.table_prefix)
    for n, sku in enumerate(PRODUCTS):
        for view in ("a", "b"):
            p.store.put(
                p.settings.media_prefix + image(sku, view).lstrip("/"),
                png((n % 250, 7, 9 if view == "a" else 11)),
            )


def drop(p, name: str, rows: list[str]) -> str:
    text = "sku,file_path,label,position,disabled,roles\n" + "\n".join(rows) + "\n"
    p.store.put(f"{p.settings.drop_prefix}import-media_{name}_01.csv", text.encode())
    p.store.put(f"{p.settings.drop_prefix}import-media_{name}.ok", b"")
    return f"media_{name}"


def dump(p) -> dict[str, list[tuple]]:
    """Every row of every table the pipeline writes, sorted."""
    t = p.db.tables
    out = {}
    with p.db.engine.connect() as conn:
        for table in (
            t.product,
            t.media_gallery,
            t.media_gallery_value,
            t.value_to_entity,
            t.varchar,
            t.gallery_meta,
            t.sku_sync_state,
        ):
            out[table.name] = sorted(tuple(map(str, row)) for row in conn.execute(sa.select(table)))
    return out


def checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def first_sync(p, instance) -> None:
    rows = [
        f"{sku},{image(sku, view)},{sku} {view},{pos},0,{'base' if view == 'a' else ''}"
        for sku in PRODUCTS
        for pos, view in ((1, "a"), (2, "b"))
    ]
    drop(p, "first", rows)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success
    assert checks(result)["blast_radius"].passed  # a first sync removes nothing


def emptying_batch(p) -> str:
    """A broken export: 110 products with their first image only, disabled: 110 galleries without an image."""
    return drop(p, "broken", [f"{sku},{image(sku, 'a')},{sku} a,1,1,base" for sku in PRODUCTS[:110]])


def test_a_batch_emptying_galleries_writes_nothing_and_its_check_is_red(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    seed_catalog(p)
    first_sync(p, instance)
    before = dump(p)

    key = emptying_batch(p)
    [result] = tick_and_run(p.defs, instance).results
    assert not result.success
    assert dump(p) == before  # not one row written
    check = checks(result)["blast_radius"]
    assert check.passed is False
    assert "galleries_emptied" in check.metadata["blast_radius_exceeded"].value
    assert check.metadata["blast_radius"].value["galleries_emptied"] == 110
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "galleries_emptied: 110 galleries (limit 50)" in message and "BR-0001" in message
    assert f"{TAG_APPROVE_BLAST_RADIUS}={key}" in message
    # the alert path (e-mail / Slack run-failure sensors) carries the same sentence
    [entry] = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="alert",
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        dagster_event=entry.dagster_event,
    ).for_run_failure()
    assert "galleries_emptied: 110 galleries (limit 50)" in _run_failure_text(context, p.settings)
    assert "\u2588" in check.metadata["changes_by_kind"].value  # the bar chart of the preview
    assert "purged (not in the batch)" in check.metadata["changes_by_kind"].value
    assert "magento_gallery" not in {
        e.asset_key.to_user_string()
        for e in (m.event_specific_data.materialization for m in result.get_asset_materialization_events())
    }


def test_the_same_batch_approved_by_its_run_tag_writes(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    seed_catalog(p)
    first_sync(p, instance)
    key = emptying_batch(p)
    [refused] = tick_and_run(p.defs, instance).results
    assert not refused.success
    job = p.defs.resolve_job_def(BATCH_JOB)

    # an approval naming another batch (a backfill's tag copied over) approves nothing
    other = job.execute_in_process(
        instance=instance,
        partition_key=key,
        raise_on_error=False,
        tags={TAG_APPROVE_BLAST_RADIUS: "media_first"},
    )
    assert not other.success

    approved = job.execute_in_process(
        instance=instance, partition_key=key, tags={TAG_APPROVE_BLAST_RADIUS: key}
    )
    assert approved.success
    check = checks(approved)["blast_radius"]
    assert check.passed is True and "approved" in (check.description or "")
    [mat] = [
        m.event_specific_data.materialization
        for m in approved.get_asset_materialization_events()
        if m.event_specific_data.materialization.asset_key == dg.AssetKey("magento_gallery")
    ]
    assert mat.metadata["blast_radius_approved"].value.endswith(f"{TAG_APPROVE_BLAST_RADIUS}={key}")
    assert mat.metadata["purged"].value == 110
    gallery = p.gallery()
    written = gallery[gallery["sku"].isin(PRODUCTS[:110])]
    assert len(written) == 110 and written["disabled"].eq(1).all()
    assert instance.get_run_by_id(approved.run_id).tags[TAG_APPROVE_BLAST_RADIUS] == key


def test_the_validation_job_previews_the_batch_before_and_after(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    seed_catalog(p)
    first_sync(p, instance)
    key = emptying_batch(p)
    register_drops(
        p.store,
        drop_prefix=p.settings.drop_prefix,
        archive_prefix=p.settings.archive_prefix,
        rejected_prefix=p.settings.rejected_prefix,
    )
    instance.add_dynamic_partitions(PARTITIONS_NAME, [key])
    before = dump(p)
    result = p.defs.resolve_job_def(VALIDATE_JOB).execute_in_process(instance=instance, partition_key=key)
    assert result.success and dump(p) == before
    [mat] = [
        m.event_specific_data.materialization
        for m in result.get_asset_materialization_events()
        if m.event_specific_data.materialization.asset_key == dg.AssetKey("gallery_delta")
    ]
    images = mat.metadata["preview_images (first 10 products)"].value
    # BR-0001: image a disabled (was enabled, 'BR-0001 a', position 1), image b purged
    assert (
        f"| BR-0001 | {image('BR-0001', 'a')} | updated (label/position/roles) | pos 1, 'BR-0001 a' | "
        "pos 1, 'BR-0001 a', disabled |" in images
    )
    assert (
        f"| BR-0001 | {image('BR-0001', 'b')} | purged (not in the batch) | pos 2, 'BR-0001 b' | - |"
        in images
    )
    assert "BR-0011" not in images  # the first 10 products only
    chart = mat.metadata["changes_by_kind"].value
    assert (
        "| purged (not in the batch) | 110 |" in chart and "| updated (label/position/roles) | 110 |" in chart
    )
