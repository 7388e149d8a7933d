"""Integration tests on real indexer_state / mview_state / `<view>_cl` tables (MariaDB, SQLite where noted),
with Magento-style MySQL triggers, asserting the rows each trigger mode leaves behind."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nacento_pipeline.config import Settings
from nacento_pipeline.core.reindex.decision import decide_reindex
from nacento_pipeline.magento.indexers import (
    SUBSCRIBED_VIEWS,
    IndexerTables,
    append_to_changelog,
    catalog_size,
    create_indexer_tables,
    read_indexer_states,
)
from nacento_pipeline.magento.reindex_trigger import ChangelogTrigger, DryRunTrigger
from nacento_pipeline.resources.build import reindex_resource

INDEXERS = ("catalog_product_attribute", "catalogsearch_fulltext", "catalog_product_flat")


def make_catalog(engine: sa.Engine, prefix: str = "", products: int = 100) -> sa.Table:
    """Just enough of catalog_product_entity and _varchar for the triggers and the catalog size."""
    md = sa.MetaData()
    entity = sa.Table(
        f"{prefix}catalog_product_entity",
        md,
        sa.Column("entity_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sku", sa.String(64), nullable=False),
    )
    varchar = sa.Table(
        f"{prefix}catalog_product_entity_varchar",
        md,
        sa.Column("value_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("attribute_id", sa.Integer, nullable=False),
        sa.Column("store_id", sa.Integer, nullable=False, server_default="0"),
        sa.Column("entity_id", sa.Integer, nullable=False),
        sa.Column("value", sa.String(255)),
        sa.UniqueConstraint("entity_id", "attribute_id", "store_id"),
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(entity.insert(), [{"sku": f"SKU-{i}"} for i in range(1, products + 1)])
    return varchar


def cl_rows(engine: sa.Engine, view: str, prefix: str = "") -> list[int]:
    cl = IndexerTables(prefix).changelog(view)
    with engine.connect() as conn:
        return list(conn.execute(sa.select(cl.c.entity_id).order_by(cl.c.version_id)).scalars())


def status_of(engine: sa.Engine, prefix: str = "") -> dict[str, str]:
    t = IndexerTables(prefix).indexer_state
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(t.c.indexer_id, t.c.status)).tuples().all())


def set_rows(engine: sa.Engine, table: sa.Table, key: str, ident: str, **values) -> None:
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c[key] == ident).values(**values))


@pytest.fixture
def mariadb(mysql_url: str):
    engine = sa.create_engine(mysql_url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("prefix", ["", "mg_"])
def test_create_indexer_tables_seeds_and_is_idempotent(magento_url: str, prefix: str):
    engine = sa.create_engine(magento_url)
    assert create_indexer_tables(engine, prefix) == []
    create_indexer_tables(engine, prefix)  # second call: nothing duplicated
    names = set(sa.inspect(engine).get_table_names())
    assert {f"{prefix}indexer_state", f"{prefix}mview_state"} <= names
    assert {f"{prefix}{v}_cl" for v in SUBSCRIBED_VIEWS} <= names
    tables = IndexerTables(prefix)
    with engine.connect() as conn:
        states = conn.execute(
            sa.select(tables.indexer_state.c.indexer_id, tables.indexer_state.c.status)
        ).all()
        views = conn.execute(
            sa.select(
                tables.mview_state.c.view_id,
                tables.mview_state.c.mode,
                tables.mview_state.c.status,
                tables.mview_state.c.version_id,
            )
        ).all()
    assert sorted(states) == sorted((v, "valid") for v in SUBSCRIBED_VIEWS)
    assert sorted(views) == sorted((v, "enabled", "idle", 0) for v in SUBSCRIBED_VIEWS)
    engine.dispose()


def test_read_states_backlog_and_catalog_size(mariadb: sa.Engine):
    make_catalog(mariadb, products=40)
    create_indexer_tables(mariadb)
    tables = IndexerTables()
    attr_cl = tables.changelog("catalog_product_attribute")
    with mariadb.begin() as conn:
        conn.execute(attr_cl.insert(), [{"entity_id": i} for i in (1, 2, 3, 4, 4, 5)])
    # Magento's cron applied the first three rows already
    set_rows(mariadb, tables.mview_state, "view_id", "catalog_product_attribute", version_id=3)
    set_rows(mariadb, tables.indexer_state, "indexer_id", "catalogsearch_fulltext", status="invalid")
    set_rows(mariadb, tables.mview_state, "view_id", "catalog_product_flat", mode="disabled")
    with mariadb.begin() as conn:
        conn.execute(
            tables.indexer_state.delete().where(tables.indexer_state.c.indexer_id == "catalogrule_product")
        )

    states = read_indexer_states(mariadb, "", [*INDEXERS, "catalogrule_product"], None)
    attr, search, flat, rule = states
    assert (attr.version_id, attr.backlog_ids, attr.status, attr.mview_mode) == (
        3,
        frozenset({4, 5}),
        "valid",
        "enabled",
    )
    assert (search.status, search.backlog_ids) == ("invalid", frozenset())
    assert flat.mview_mode == "disabled"
    assert not rule.installed and rule.mview_mode == "enabled"
    assert catalog_size(mariadb) == 40

    decisions = decide_reindex([5, 6], states, catalog_size(mariadb), thresholds=0.05)  # 0.05 * 40 = 2
    assert [(d.decision, d.purpose) for d in decisions] == [
        ("full", "threshold"),  # delta {4,5,6} = 3 > 2
        ("full", "reindex-required"),
        ("full", "on-save"),
        ("none", "not-installed"),
    ]
    assert decisions[0].delta == 3


def test_read_states_custom_view_map_and_missing_tables(mariadb: sa.Engine):
    assert [s.installed for s in read_indexer_states(mariadb, "", INDEXERS, None)] == [False] * 3
    create_indexer_tables(mariadb, views=["catalog_product_attribute", "cde_products_feed"])
    [state] = read_indexer_states(
        mariadb, "", ["catalog_product_attribute"], {"catalog_product_attribute": "cde_products_feed"}
    )
    assert (state.view_id, state.changelog_exists, state.mview_mode) == ("cde_products_feed", True, "enabled")


def test_changelog_partial_does_not_duplicate_trigger_rows(mariadb: sa.Engine):
    varchar = make_catalog(mariadb, products=100)
    triggers = create_indexer_tables(mariadb, with_triggers=True)
    assert "trg_catalog_product_entity_varchar_after_insert" in triggers
    # the batch's role writes fire Magento's triggers for products 1..3
    with mariadb.begin() as conn:
        conn.execute(
            varchar.insert(),
            [{"attribute_id": 87, "entity_id": i, "value": f"/a/{i}.jpg"} for i in (1, 2, 3)],
        )
    for view in INDEXERS:
        assert cl_rows(mariadb, view) == [1, 2, 3]

    # gallery-only changes on 4 and 5 reach no changelog through triggers: the pipeline adds them
    states = read_indexer_states(mariadb, "", INDEXERS, None)
    decisions = decide_reindex([1, 2, 3, 4, 5], states, 100, thresholds=50)
    assert [d.decision for d in decisions] == ["partial"] * 3
    report = ChangelogTrigger(mariadb).apply(decisions, lambda _: None)
    assert [(o.action, o.changelog_inserted, o.changelog_present) for o in report.outcomes] == [
        ("changelog", 2, 3)
    ] * 3
    for view in INDEXERS:
        assert cl_rows(mariadb, view) == [1, 2, 3, 4, 5]
    assert status_of(mariadb)["catalog_product_attribute"] == "valid"

    # running the same batch again adds nothing
    again = ChangelogTrigger(mariadb).apply(decisions, lambda _: None)
    assert again.changelog_inserted == 0
    assert cl_rows(mariadb, "catalog_product_attribute") == [1, 2, 3, 4, 5]

    # once Magento's cron applied the changelog, the same ids are pending again -> appended again
    tables = IndexerTables()
    set_rows(mariadb, tables.mview_state, "view_id", "catalog_product_attribute", version_id=5)
    result = append_to_changelog(mariadb, "", "catalog_product_attribute", [5, 2, 2])
    assert (result.requested, result.already_present, result.inserted) == (2, 0, 2)
    assert cl_rows(mariadb, "catalog_product_attribute") == [1, 2, 3, 4, 5, 2, 5]


def test_changelog_append_chunks(mariadb: sa.Engine):
    create_indexer_tables(mariadb)
    with mariadb.begin() as conn:
        conn.execute(IndexerTables().changelog("catalogsearch_fulltext").insert(), [{"entity_id": 7}])
    result = append_to_changelog(mariadb, "", "catalogsearch_fulltext", range(1, 2501), chunk_size=1000)
    assert (result.requested, result.already_present, result.inserted) == (2500, 1, 2499)
    assert sorted(cl_rows(mariadb, "catalogsearch_fulltext")) == list(range(1, 2501))


def test_changelog_full_invalidates_but_never_a_working_indexer(mariadb: sa.Engine):
    make_catalog(mariadb, products=10)
    create_indexer_tables(mariadb)
    tables = IndexerTables()
    set_rows(mariadb, tables.indexer_state, "indexer_id", "catalogsearch_fulltext", status="working")
    set_rows(mariadb, tables.mview_state, "view_id", "catalog_product_flat", status="suspended")
    states = read_indexer_states(mariadb, "", INDEXERS, None)
    decisions = decide_reindex(range(1, 9), states, 10, thresholds=0.5)  # 8 > 5 -> full everywhere
    assert [d.decision for d in decisions] == ["full"] * 3
    assert [d.held for d in decisions] == [False, True, True]

    lines: list[str] = []
    report = ChangelogTrigger(mariadb).apply(decisions, lines.append)
    assert [o.action for o in report.outcomes] == ["invalidated", "changelog", "changelog"]
    assert status_of(mariadb) == {
        "catalog_product_attribute": "invalid",
        "catalogsearch_fulltext": "working",  # left to Magento
        "catalog_product_flat": "valid",
        "catalogrule_product": "valid",
    }
    assert cl_rows(mariadb, "catalog_product_attribute") == []
    assert cl_rows(mariadb, "catalogsearch_fulltext") == list(range(1, 9))
    assert cl_rows(mariadb, "catalog_product_flat") == list(range(1, 9))
    assert any("marked invalid" in line for line in lines)


def test_changelog_on_sqlite_with_prefix(sqlite_url: str):
    engine = sa.create_engine(sqlite_url)
    varchar = make_catalog(engine, prefix="mg_", products=10)
    create_indexer_tables(engine, "mg_", with_triggers=True)
    with engine.begin() as conn:
        conn.execute(varchar.insert(), [{"attribute_id": 87, "entity_id": 2, "value": "/b.jpg"}])
    settings = Settings(table_prefix="mg_")
    decisions = decide_reindex(
        [2, 3], read_indexer_states(engine, "mg_", INDEXERS), 10, settings.threshold_for
    )
    report = reindex_resource(settings).trigger(engine, "mg_").apply(decisions, lambda _: None)
    assert report.trigger == "changelog" and report.changelog_inserted == 3
    assert cl_rows(engine, "catalog_product_flat", "mg_") == [2, 3]
    engine.dispose()


def test_dry_run_changes_nothing(mariadb: sa.Engine):
    create_indexer_tables(mariadb)
    set_rows(mariadb, IndexerTables().mview_state, "view_id", "catalog_product_flat", mode="disabled")
    decisions = decide_reindex([1, 2], read_indexer_states(mariadb, "", INDEXERS), 100, 10)
    lines: list[str] = []
    report = DryRunTrigger().apply(decisions, lines.append)
    assert [(o.decision, o.action) for o in report.outcomes] == [
        ("partial", "dry-run"),
        ("partial", "dry-run"),
        ("full", "dry-run"),
    ]
    assert len(lines) == 3 and "catalog_product_flat -> full" in lines[2]
    assert set(status_of(mariadb).values()) == {"valid"}
    assert all(cl_rows(mariadb, v) == [] for v in INDEXERS)


def test_decide_from_database_uses_settings(mariadb: sa.Engine):
    make_catalog(mariadb, prefix="m_", products=20)
    create_indexer_tables(mariadb, "m_")
    settings = Settings(
        table_prefix="m_",
        indexers=("catalog_product_attribute", "catalogsearch_fulltext"),
        default_threshold=0.1,
        thresholds={"catalogsearch_fulltext": 5},
    )
    attr, search = reindex_resource(settings).decide(mariadb, "m_", [1, 2, 3])
    assert (attr.decision, attr.threshold, attr.catalog_size) == ("full", 2.0, 20)
    assert (search.decision, search.threshold, search.entity_ids) == ("partial", 5.0, (1, 2, 3))


def _row_id_products(md: sa.MetaData) -> sa.Table:
    """catalog_product_entity as Adobe Commerce's content staging shapes it: one row per version (row_id)."""
    return sa.Table(
        "catalog_product_entity",
        md,
        sa.Column("row_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity_id", sa.Integer, nullable=False),
        sa.Column("created_in", sa.BigInteger, nullable=False, server_default="1"),
    )


def test_catalog_size_counts_distinct_entities_on_row_id_schemas(magento_url: str):
    engine = sa.create_engine(magento_url)
    md = sa.MetaData()
    entity = _row_id_products(md)
    md.create_all(engine)
    with engine.begin() as conn:  # product 1 has a staged update: two rows, one product
        conn.execute(
            entity.insert(),
            [
                {"entity_id": 1, "created_in": 1},
                {"entity_id": 1, "created_in": 5},
                {"entity_id": 2, "created_in": 1},
            ],
        )
    assert catalog_size(engine) == 2
    engine.dispose()


def test_row_id_schema_triggers_write_the_entity_id(magento_url: str):
    engine = sa.create_engine(magento_url)
    md = sa.MetaData()
    entity = _row_id_products(md)
    varchar = sa.Table(
        "catalog_product_entity_varchar",
        md,
        sa.Column("value_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("attribute_id", sa.Integer, nullable=False),
        sa.Column("store_id", sa.Integer, nullable=False),
        sa.Column("row_id", sa.Integer, nullable=False),
        sa.Column("value", sa.String(255)),
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(entity.insert(), [{"row_id": 10, "entity_id": 7}, {"row_id": 11, "entity_id": 8}])
    triggers = create_indexer_tables(engine, views=["catalog_product_attribute"], with_triggers=True)
    assert len(triggers) == 3
    with engine.begin() as conn:
        conn.execute(
            varchar.insert(), [{"attribute_id": 87, "store_id": 0, "row_id": 11, "value": "/a/b/x.jpg"}]
        )
        conn.execute(varchar.delete().where(varchar.c.row_id == 11))
    cl = IndexerTables().changelog("catalog_product_attribute")
    with engine.connect() as conn:
        assert list(conn.execute(sa.select(cl.c.entity_id).order_by(cl.c.version_id)).scalars()) == [8, 8]
    engine.dispose()
