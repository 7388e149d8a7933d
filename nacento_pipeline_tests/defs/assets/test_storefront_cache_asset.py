"""storefront_cache in a run (embedded default: SQLite with Magento's triggers, a command backend)."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from nacento_pipeline.config import Settings
from nacento_pipeline.defs.constants import BATCH_JOB
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.magento.indexers import IndexerTables
from nacento_pipeline.magento.product_relations import relation_tables
from nacento_pipeline.storage.drop.samples import drop_sample_batch, put_demo_images
from nacento_pipeline_tests.defs.harness import make_pipeline

RECORDER = "import sys, pathlib; pathlib.Path(sys.argv[1]).open('a').write(' '.join(sys.argv[2:]) + '\\n')"


def _meta(result, key: str) -> dict:
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key.to_user_string() == key:
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError(f"no {key} materialization")


def _fresh(result) -> tuple[bool, str]:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "storefront_fresh"]
    return evaluation.passed, evaluation.description or ""


def _pipeline(tmp_path: Path, command: str, **overrides):
    script = tmp_path / "record.py"
    script.write_text(RECORDER)
    calls = tmp_path / "calls.txt"
    overrides = {
        k: v.format(python=sys.executable, script=script, calls=calls) if isinstance(v, str) else v
        for k, v in overrides.items()
    }
    settings = Settings(
        var_dir=tmp_path / "var",
        cache_backend="command",
        cache_command=command.format(python=sys.executable, script=script, calls=calls),
        **overrides,
    ).validate()
    return make_pipeline(tmp_path, settings), calls


def test_cache_step_cleans_changed_products_and_parents_then_fresh_once_magento_applied(tmp_path, instance):
    p, calls = _pipeline(tmp_path, "{python} {script} {calls} cache:clean {{tags}}")
    with p.db.engine.connect() as conn:
        ids = dict(conn.execute(sa.select(p.db.tables.product.c.sku, p.db.tables.product.c.entity_id)).all())
    _, super_link, _ = relation_tables()
    with p.db.engine.begin() as conn:  # a configurable parent (not in the batch) of the first product
        conn.execute(super_link.insert(), [{"product_id": min(ids.values()), "parent_id": 900}])
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success
    meta = _meta(result, "storefront_cache")
    expected = [f"cat_p_{i}" for i in sorted([*ids.values(), 900])]
    assert (meta["status"], meta["backend"], meta["tags"], meta["parent_products"]) == (
        "ok",
        "command",
        13,
        1,
    )
    assert calls.read_text().split() == ["cache:clean", *expected]
    # Magento's cron has not applied the changelogs yet: not fresh
    passed, description = _fresh(result)
    assert not passed and "catalog_product_flat" in description and "not applied yet" in description
    # Magento's cron applies them (version_id moves to the end of each changelog): re-evaluating says fresh
    tables = IndexerTables()
    with p.db.engine.begin() as conn:
        for view in ("catalog_product_flat", "catalogrule_product"):
            top = conn.execute(sa.select(sa.func.max(tables.changelog(view).c.version_id))).scalar()
            conn.execute(
                tables.mview_state.update().where(tables.mview_state.c.view_id == view).values(version_id=top)
            )
    again = p.defs.resolve_job_def(BATCH_JOB).execute_in_process(
        instance=instance,
        partition_key=result.dagster_run.tags["dagster/partition"],
        asset_selection=[dg.AssetKey("storefront_cache")],
    )
    assert _fresh(again) == (True, "fresh")
    assert calls.read_text().count("cache:clean") == 2  # idempotent: cleaned again, same tags


def test_failing_cache_never_fails_the_write(tmp_path, instance):
    p, _ = _pipeline(tmp_path, "{python} -c 'import sys; sys.exit(3)'")
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success  # the run (and the committed write) stands
    assert len(p.gallery()) > 0
    meta = _meta(result, "storefront_cache")
    assert meta["status"] == "failed" and meta["retries"] == 2 and "exited 3" in meta["errors"]
    passed, description = _fresh(result)
    assert not passed and "exited 3" in description


def test_changed_image_files_reach_the_images_command(tmp_path, instance):
    """With the opt-in purge, the files whose content changed under the same path go to the backend's image
    cleaning (here `{images}` of NACENTO_CACHE_IMAGES_COMMAND), the unchanged ones do not."""
    p, calls = _pipeline(
        tmp_path,
        "{python} {script} {calls} tags",
        purge_image_cache=True,
        cache_images_command="{python} {script} {calls} images {{images}}",
    )
    drop_sample_batch(p.store, p.settings.drop_prefix)
    tick_and_run(p.defs, instance)
    assert [line.split()[0] for line in calls.read_text().splitlines()] == [
        "tags"
    ]  # first sync: no image changed
    put_demo_images(p.store, p.settings.media_prefix, generation=1)  # new content for the first 2 fronts
    drop_sample_batch(p.store, p.settings.drop_prefix, generation=1)
    [result] = tick_and_run(p.defs, instance).results
    images = [line.split()[1:] for line in calls.read_text().splitlines() if line.startswith("images")]
    assert images == [["/n/a/nac-1001-front.png", "/n/a/nac-1002-front.png"]]
    meta = _meta(result, "storefront_cache")
    assert (meta["status"], meta["image_values"]) == ("ok", 2)
