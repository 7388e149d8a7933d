"""Schema facts: Magento column types, our own tables, link-column detection, attribute ids, writer lock."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from nacento_pipeline.magento.database import MagentoDatabase, WriterLockTimeout
from nacento_pipeline.magento.demo import DEMO_ATTRIBUTE_IDS, create_demo_schema, seed_demo_products
from nacento_pipeline.magento.gallery.sync import sync_gallery
from nacento_pipeline.magento.schema import SchemaError, build_tables, create_own_tables
from nacento_pipeline_tests.helpers import FakeBatch, etag_frame, image_frame


def _create_ddl(engine: sa.Engine, table: str) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SHOW CREATE TABLE `{table}`")).all()[0][1].lower()


def test_mariadb_types_follow_magento(mysql_url):
    engine = sa.create_engine(mysql_url)
    create_demo_schema(engine, "mg_")
    value = _create_ddl(engine, "mg_catalog_product_entity_media_gallery_value")
    assert "`position` int(10) unsigned default null" in value
    assert "`record_id` int(10) unsigned not null auto_increment" in value
    meta = _create_ddl(engine, "mg_nacento_media_gallery_meta")
    assert "`record_id` int(10) unsigned not null" in meta
    assert "`s3_etag` varchar(255) default null" in meta
    assert "on update current_timestamp" in meta
    assert (
        "references `mg_catalog_product_entity_media_gallery_value` (`record_id`) on delete cascade" in meta
    )
    state = _create_ddl(engine, "mg_nacento_sku_sync_state")
    assert "primary key (`sku`)" in state and "`sku` varchar(64) not null" in state
    assert "unique key" in _create_ddl(engine, "mg_catalog_product_entity_varchar")
    assert "unique key" not in _create_ddl(engine, "mg_catalog_product_entity_media_gallery")
    assert "datetime(6)" in state
    assert sa.inspect(engine).has_table("mg_indexer_state") and sa.inspect(engine).has_table("mg_mview_state")
    engine.dispose()


def test_create_own_tables_is_idempotent_and_leaves_magento_alone(magento_url):
    engine = sa.create_engine(magento_url)
    tables = build_tables("", dialect_name=engine.dialect.name)
    tables.metadata.create_all(engine, tables=tables.magento_tables)
    before = {t.name: sa.inspect(engine).get_columns(t.name) for t in tables.magento_tables}
    create_own_tables(engine)
    create_own_tables(engine)
    inspector = sa.inspect(engine)
    assert inspector.has_table("nacento_media_gallery_meta") and inspector.has_table("nacento_sku_sync_state")
    after = {t.name: inspector.get_columns(t.name) for t in tables.magento_tables}
    assert [c["name"] for c in after["catalog_product_entity_media_gallery_value"]] == [
        c["name"] for c in before["catalog_product_entity_media_gallery_value"]
    ]
    engine.dispose()


def test_attribute_ids_are_looked_up_not_hard_coded(sqlite_url):
    db = MagentoDatabase(sqlite_url)
    create_demo_schema(db.engine)
    ids = db.attribute_ids()
    assert ids.media_gallery == DEMO_ATTRIBUTE_IDS["media_gallery"]
    assert ids.roles == {
        c: DEMO_ATTRIBUTE_IDS[c] for c in ("image", "small_image", "thumbnail", "swatch_image")
    }
    with db.engine.begin() as conn:  # Magento_Swatches disabled: no swatch role, and no SchemaError
        conn.execute(sa.text("DELETE FROM eav_attribute WHERE attribute_code = 'swatch_image'"))
    db.refresh_schema()
    assert list(db.attribute_ids().roles) == ["image", "small_image", "thumbnail"]
    with db.engine.begin() as conn:  # Magento_Catalog's own roles cannot be missing
        conn.execute(sa.text("DELETE FROM eav_attribute WHERE attribute_code = 'thumbnail'"))
    db.refresh_schema()
    with pytest.raises(SchemaError, match="thumbnail"):
        db.attribute_ids()
    db.dispose()


def test_meta_row_cascades_with_its_value_row(magento_url):
    db = MagentoDatabase(magento_url)
    create_demo_schema(db.engine)
    seed_demo_products(db.engine, ["S1"])
    sync_gallery(
        db,
        FakeBatch(image_frame([("S1", "/x/y/z.jpg")])),
        etag_frame({"/x/y/z.jpg": "e"}),
        mode="replace",
        batch_key="b",
    )
    t = db.tables
    with db.engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.gallery_meta)).scalar() == 1
        conn.execute(sa.delete(t.media_gallery_value))
        assert conn.execute(sa.select(sa.func.count()).select_from(t.gallery_meta)).scalar() == 0
    db.dispose()


def test_row_id_schema_is_detected_and_written_by_row_id(magento_url):
    db = MagentoDatabase(magento_url)
    create_demo_schema(db.engine, link="row_id")
    db.refresh_schema()
    assert db.tables.link == "row_id"
    t = db.tables
    with db.engine.begin() as conn:  # entity 7 has two staged versions: rows 40 (old) and 41 (current)
        conn.execute(
            t.product.insert(),
            [
                {"row_id": 40, "entity_id": 7, "sku": "R1", "created_in": 1, "updated_in": 5},
                {"row_id": 41, "entity_id": 7, "sku": "R1", "created_in": 5, "updated_in": 2147483647},
            ],
        )
    result = sync_gallery(
        db,
        FakeBatch(image_frame([("R1", "/r/1.jpg", "", 0, False, "image")])),
        etag_frame({"/r/1.jpg": "e"}),
        mode="replace",
        batch_key="b",
    )
    assert result.sku_results["entity_id"].tolist() == [7] and result.counts()["inserted"] == 1
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(t.value_to_entity.c.row_id)).scalars().all() == [41]
        assert conn.execute(sa.select(t.media_gallery_value.c.row_id)).scalars().all() == [41]
        assert conn.execute(
            sa.select(t.varchar.c.row_id, t.varchar.c.value).where(
                t.varchar.c.attribute_id == DEMO_ATTRIBUTE_IDS["image"]
            )
        ).all() == [(41, "/r/1.jpg")]
    again = sync_gallery(
        db,
        FakeBatch(image_frame([("R1", "/r/1.jpg", "", 0, False, "image")])),
        etag_frame({"/r/1.jpg": "e"}),
        mode="replace",
        batch_key="b",
    )
    assert again.write_statements == 0 and again.items.empty  # its digest is unchanged: not planned
    db.dispose()


def test_writer_lock_serialises_writers(magento_url):
    db = MagentoDatabase(magento_url)
    other = MagentoDatabase(magento_url)
    order: list[str] = []
    held = threading.Event()

    def first() -> None:
        with db.writer_lock():
            held.set()
            time.sleep(0.4)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    with pytest.raises(WriterLockTimeout), other.writer_lock(timeout=0.1):
        pass
    with other.writer_lock(timeout=5):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]
    db.dispose()
    other.dispose()


def test_writer_lock_waits_for_another_session(magento_url, tmp_path):
    """The cross-process lock itself: MySQL GET_LOCK held by another session, or the SQLite lock file."""
    db = MagentoDatabase(magento_url)
    name = db.lock_name()
    if db.is_mysql:
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar() == 1
            with pytest.raises(WriterLockTimeout), db.writer_lock(timeout=1):
                pass
            conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
    else:
        import fcntl

        with open(f"{db.engine.url.database}.nacento-writer.lock", "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            with pytest.raises(WriterLockTimeout), db.writer_lock(timeout=0.2):
                pass
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    with db.writer_lock(timeout=1):
        pass
    db.dispose()


def test_longest_magento_table_prefix_fits_mysql_identifier_limits(mysql_url):
    from nacento_pipeline.magento.database import MagentoDatabase
    from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products

    prefix = "mg24_"  # Magento's installer allows at most 5 characters
    db = MagentoDatabase(mysql_url, prefix=prefix)
    create_demo_schema(db.engine, prefix)
    db.refresh_schema()
    assert seed_demo_products(db.engine, ["P1"], prefix)["P1"] > 0
    assert db.tables.media_gallery_value.name == f"{prefix}catalog_product_entity_media_gallery_value"
    db.dispose()


def test_our_own_tables_are_all_created_on_a_magento_database(tmp_path):
    """A real Magento has none of our tables: `create_own_tables` (doctor, the resources) creates them all."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'magento.sqlite'}")
    tables = build_tables()
    tables.metadata.create_all(engine, tables=tables.magento_tables)
    create_own_tables(engine)
    present = set(sa.inspect(engine).get_table_names())
    assert {t.name for t in tables.own_tables} <= present
    assert {
        "nacento_media_gallery_meta",
        "nacento_sku_sync_state",
        "nacento_sku_gallery_digest",
        "nacento_batch_journal",
    } <= present
    engine.dispose()
