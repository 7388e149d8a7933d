"""reindex_decision in a run on MariaDB: partial -> changelog rows, full -> invalidated, cache purge, tag."""

import sqlalchemy as sa

from nacento_pipeline.defs.constants import TAG_REINDEX
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.magento.indexers import IndexerTables
from nacento_pipeline.storage.drop.samples import drop_sample_batch, put_demo_images


def _reindex_meta(result):
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if mat.asset_key.to_user_string() == "reindex_decision":
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError("no reindex_decision materialization")


def _changelog_ids(p, view):
    table = IndexerTables(p.settings.table_prefix).changelog(view)
    with p.db.engine.connect() as conn:
        return sorted(conn.execute(sa.select(table.c.entity_id)).scalars())


def _status(p):
    t = IndexerTables(p.settings.table_prefix).indexer_state
    with p.db.engine.connect() as conn:
        return dict(conn.execute(sa.select(t.c.indexer_id, t.c.status)).all())


# The pre-issue-10 indexer list and chain (no queued-by-triggers purpose): threshold decides
OLD_CHAIN = {
    "indexers": ("catalog_product_attribute", "catalogsearch_fulltext", "catalog_product_flat"),
    "reindex_purposes": ("not-installed", "no-change", "on-save", "reindex-required", "threshold"),
}


def test_small_delta_goes_to_the_changelogs(s3_mariadb_factory, instance):
    p = s3_mariadb_factory(default_threshold=1000.0, **OLD_CHAIN)  # 12 changed products <= 1000: partial
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    meta = _reindex_meta(result)
    assert meta["partial"] == 3 and meta["full"] == 0
    assert "| catalog_product_attribute | partial | threshold |" in meta["decisions"]
    with p.db.engine.connect() as conn:
        product_ids = sorted(conn.execute(sa.select(p.db.tables.product.c.entity_id)).scalars())
    for view in ("catalog_product_attribute", "catalogsearch_fulltext", "catalog_product_flat"):
        assert sorted(set(_changelog_ids(p, view))) == product_ids  # every changed product is pending
    # The demo schema has Magento's varchar triggers: the 4 role rows of each product already put it in these
    # changelogs (4 rows each), so the pipeline added nothing on top.
    assert len(_changelog_ids(p, "catalog_product_attribute")) == 7 * 12  # 4 roles + 3 role labels each
    assert len(_changelog_ids(p, "catalogsearch_fulltext")) == 7 * 12
    assert set(_status(p).values()) == {"valid"}
    assert instance.get_run_by_id(result.run_id).tags[TAG_REINDEX] == "partial"


def test_large_delta_invalidates_and_purges_resized_images(s3_mariadb_factory, instance):
    p = s3_mariadb_factory(
        default_threshold=0.1, purge_image_cache=True, **OLD_CHAIN
    )  # 10% of 12 products: full
    drop_sample_batch(p.store, p.settings.drop_prefix)
    tick_and_run(p.defs, instance)
    cache = p.settings.media_cache_prefix
    p.store.put(f"{cache}0123abcd/n/a/nac-1001-front.png", b"resized")
    p.store.put(f"{cache}0123abcd/n/a/nac-1003-front.png", b"resized, unchanged image")
    put_demo_images(p.store, p.settings.media_prefix, generation=1)  # new content for NAC-1001/1002 fronts
    drop_sample_batch(p.store, p.settings.drop_prefix, generation=1)
    [result] = tick_and_run(p.defs, instance).results
    meta = _reindex_meta(result)
    assert meta["full"] == 3
    assert meta["cache_purged"] == 1
    assert _status(p) == {
        "catalog_product_attribute": "invalid",
        "catalogsearch_fulltext": "invalid",
        "catalog_product_flat": "invalid",
        "catalogrule_product": "valid",
    }
    left = [o.key for o in p.store.list(cache)]
    assert left == [f"{cache}0123abcd/n/a/nac-1003-front.png"]
    assert instance.get_run_by_id(result.run_id).tags[TAG_REINDEX] == "full"


def test_dry_run_trigger_decides_but_touches_nothing(s3_mariadb_factory, instance):
    p = s3_mariadb_factory(reindex_trigger="dry-run", **OLD_CHAIN)
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    meta = _reindex_meta(result)
    assert meta["trigger"] == "dry-run" and meta["full"] == 3
    assert set(_status(p).values()) == {"valid"}
    assert len(_changelog_ids(p, "catalogsearch_fulltext")) == 7 * 12  # what Magento's own triggers wrote


def test_image_indexers_by_default_ride_on_magentos_triggers(s3_mariadb_factory, instance):
    """Default indexers (flat, catalogrule_product) on the demo schema with Magento's triggers: every changed
    id is already queued, so the decision is partial by queued-by-triggers even above the threshold, and the
    pipeline adds no changelog row."""
    p = s3_mariadb_factory(default_threshold=0.1)  # 12 changed > 10% of 12: the threshold would say full
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    meta = _reindex_meta(result)
    assert (meta["partial"], meta["full"], meta["none"]) == (2, 0, 0)
    assert "| catalog_product_flat | partial | queued-by-triggers |" in meta["decisions"]
    assert "| catalogrule_product | partial | queued-by-triggers |" in meta["decisions"]
    with p.db.engine.connect() as conn:
        product_ids = sorted(conn.execute(sa.select(p.db.tables.product.c.entity_id)).scalars())
    # exactly what Magento's triggers wrote, nothing on top: per product 7 varchar rows (4 roles, 3 labels)
    # and 3 gallery value rows; catalogrule_product also gets the 36 new media_gallery rows' value_ids
    assert len(_changelog_ids(p, "catalog_product_flat")) == 12 * (7 + 3)
    assert len(_changelog_ids(p, "catalogrule_product")) == 12 * (7 + 3) + 36
    assert sorted(set(_changelog_ids(p, "catalog_product_flat"))) == product_ids
    assert set(_status(p).values()) == {"valid"}
