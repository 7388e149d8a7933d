"""Review of the reindex decision and triggers: shell-safe command placeholders, catalog size on row_id
schemas, exact cache-path matching, timeout tail, changelog triggers on row_id schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from nacento_pipeline.core.reindex import IndexerState, decide_reindex
from nacento_pipeline.magento.indexers import IndexerTables, catalog_size, create_indexer_tables
from nacento_pipeline.magento.reindex_trigger import (
    CommandTemplateError,
    CommandTrigger,
    ReindexCommandTimeout,
    render_command,
    run_command,
)
from nacento_pipeline.storage.image_cache import cached_value

CACHE = "media/catalog/product/cache/"
HASH = "9df78eab33525d08d6e5fb8d27136e95"


def test_indexer_names_are_validated_not_only_quoted(tmp_path: Path):
    marker = tmp_path / "pwned"
    evil = f"x$(touch {marker})"
    # shlex.quote is undone by a template that double-quotes the placeholder (ssh "cd ... && {indexers}")
    with pytest.raises(CommandTemplateError, match="indexer"):
        render_command('sh -c "echo {indexers}"', [evil])
    state = IndexerState(evil, evil, status="invalid")
    [decision] = decide_reindex([1], [state], 100, thresholds=10)
    with pytest.raises(CommandTemplateError):
        CommandTrigger('sh -c "echo {indexers}"', timeout_seconds=5).apply([decision], lambda _: None)
    assert not marker.exists()
    # Magento indexer ids (letters, digits, underscore) still render
    assert render_command('ssh m "bin/magento indexer:reindex {indexers}"', ["cde_products_feed", "catalog_product_flat"]) \
        == 'ssh m "bin/magento indexer:reindex cde_products_feed catalog_product_flat"'


def test_entity_ids_must_be_integers():
    with pytest.raises(CommandTemplateError, match="entity id"):
        render_command("x {entity_ids}", ["a"], ["1;reboot"])  # type: ignore[list-item]
    with pytest.raises(CommandTemplateError, match="entity id"):
        render_command("x {entity_ids}", ["a"], [True])  # type: ignore[list-item]
    assert render_command("x {entity_ids}", ["a"], [3, 1]) == "x 3,1"


def test_catalog_size_counts_distinct_entities_on_row_id_schemas(magento_url: str):
    engine = sa.create_engine(magento_url)
    md = sa.MetaData()
    entity = sa.Table(
        "catalog_product_entity", md,
        sa.Column("row_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity_id", sa.Integer, nullable=False),
        sa.Column("created_in", sa.BigInteger, nullable=False),
    )
    md.create_all(engine)
    with engine.begin() as conn:  # product 1 has a staged update: two rows, one product
        conn.execute(entity.insert(), [{"entity_id": 1, "created_in": 1}, {"entity_id": 1, "created_in": 5},
                                       {"entity_id": 2, "created_in": 1}])
    assert catalog_size(engine) == 2
    engine.dispose()


def test_cache_match_is_exact_path_after_the_hash():
    wanted = {"a/b/x.jpg"}
    assert cached_value(f"{CACHE}{HASH}/a/b/x.jpg", CACHE, wanted) == "a/b/x.jpg"
    assert cached_value(f"{CACHE}1/small_image/265x265/{HASH}/a/b/x.jpg", CACHE, wanted) == "a/b/x.jpg"
    assert cached_value(f"{CACHE}1/image/{HASH}/a/b/x.jpg", CACHE, wanted) == "a/b/x.jpg"
    assert cached_value(f"{CACHE}{HASH}/a/b/ax.jpg", CACHE, wanted) is None
    # a resized copy of /foo/a/b/x.jpg is not one of /a/b/x.jpg, nor is a copy of /a/b/x.jpg one of /x.jpg
    assert cached_value(f"{CACHE}{HASH}/foo/a/b/x.jpg", CACHE, wanted) is None
    assert cached_value(f"{CACHE}{HASH}/a/b/x.jpg", CACHE, {"x.jpg", "b/x.jpg"}) is None


def test_timeout_error_message_carries_the_output_tail():
    with pytest.raises(ReindexCommandTimeout) as info:
        run_command("for w in first last; do echo line-$w; done; sleep 30", lambda _: None, timeout_seconds=1,
                    kill_grace_seconds=1)
    assert info.value.tail == ("line-first", "line-last")
    assert "line-last" in str(info.value)


def test_row_id_schema_triggers_write_the_entity_id(magento_url: str):
    engine = sa.create_engine(magento_url)
    md = sa.MetaData()
    entity = sa.Table(
        "catalog_product_entity", md,
        sa.Column("row_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("entity_id", sa.Integer, nullable=False),
    )
    varchar = sa.Table(
        "catalog_product_entity_varchar", md,
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
        conn.execute(varchar.insert(), [{"attribute_id": 87, "store_id": 0, "row_id": 11, "value": "/a/b/x.jpg"}])
        conn.execute(varchar.delete().where(varchar.c.row_id == 11))
    cl = IndexerTables().changelog("catalog_product_attribute")
    with engine.connect() as conn:
        assert list(conn.execute(sa.select(cl.c.entity_id).order_by(cl.c.version_id)).scalars()) == [8, 8]
    engine.dispose()


def test_held_update_on_save_indexer_says_the_changelog_will_not_carry_the_ids():
    state = IndexerState("catalog_product_flat", "catalog_product_flat", status="working", mview_mode="disabled")
    [decision] = decide_reindex([1, 2], [state], 100, thresholds=10)
    assert (decision.decision, decision.purpose, decision.held) == ("full", "on-save", True)
    assert any("Update on Save" in note and "reindex again" in note for note in decision.notes)
    scheduled = IndexerState("catalog_product_flat", "catalog_product_flat", status="working")
    [decision] = decide_reindex([1, 2], [scheduled], 100, thresholds=10)
    assert not any("Update on Save" in note for note in decision.notes)
