"""A Magento admin save racing the writer on MariaDB: the fingerprint check and the write see the same rows.

The admin's transaction (a thread) saves a product the way Magento does, its product row updated first,
then removes an image; it holds its locks a while before committing. The writer's chunk starts in the
meantime: its products are locked first (SELECT ... FOR UPDATE), so it waits for the admin's commit, sees the
removal, plans the chunk again and writes the batch onto the admin's state. With plain reads it would write
the plan made before the save (an update of a row the admin deleted: the batch's image lost, reported
written).
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
from nacento_pipeline.magento.gallery.sync import plan_gallery, write_gallery
from nacento_pipeline_tests.helpers import FakeBatch, image_frame
from nacento_pipeline_tests.magento.gallery_helpers import A, B, etags_for, gallery, sync

ADMIN_HOLDS_SECONDS = 1.5


@pytest.fixture
def mariadb(mysql_url):
    database = MagentoDatabase(mysql_url)
    create_demo_schema(database.engine)
    database.refresh_schema()
    seed_demo_products(database.engine, ["S1", "S2"])
    yield database
    database.dispose()


def admin_save_removing(
    db: MagentoDatabase, sku: str, path: str, locked: threading.Barrier, done: list[float]
) -> None:
    """Product save in one transaction: the product row first (updated_at), then the gallery row of `path`
    deleted with its values and links; committed ADMIN_HOLDS_SECONDS after the locks are taken."""
    t = db.tables
    with db.engine.begin() as conn:
        conn.execute(sa.update(t.product).where(t.product.c.sku == sku).values(updated_at=sa.func.now()))
        link = conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == sku)).scalar_one()
        value_ids = [
            v
            for (v,) in conn.execute(
                sa.select(t.media_gallery.c.value_id)
                .join(t.value_to_entity, t.value_to_entity.c.value_id == t.media_gallery.c.value_id)
                .where(t.value_to_entity.c[t.link] == link, t.media_gallery.c.value == path)
            )
        ]
        records = sa.select(t.media_gallery_value.c.record_id).where(
            t.media_gallery_value.c.value_id.in_(value_ids)
        )
        conn.execute(sa.delete(t.gallery_meta).where(t.gallery_meta.c.record_id.in_(records)))
        conn.execute(sa.delete(t.media_gallery_value).where(t.media_gallery_value.c.value_id.in_(value_ids)))
        conn.execute(sa.delete(t.value_to_entity).where(t.value_to_entity.c.value_id.in_(value_ids)))
        conn.execute(sa.delete(t.media_gallery).where(t.media_gallery.c.value_id.in_(value_ids)))
        locked.wait(10)
        time.sleep(ADMIN_HOLDS_SECONDS)
    done.append(time.monotonic())


def test_an_admin_save_during_the_chunk_is_seen_by_the_write(mariadb):
    sync(mariadb, [("S1", A, "v1"), ("S1", B, "v1"), ("S2", A, "v1")], batch_key="media_1")
    images = image_frame([("S1", A, "v2"), ("S1", B, "v2"), ("S2", A, "v2")])
    plan = plan_gallery(
        mariadb, FakeBatch(images), etags_for({A, B}), mode="replace", chunk_size=10, batch_key="media_2"
    )
    assert plan.counts()["updated_meta"] == 3
    locked, done = threading.Barrier(2), []
    admin = threading.Thread(target=admin_save_removing, args=(mariadb, "S1", A, locked, done))
    admin.start()
    locked.wait(10)  # the admin's transaction holds the product row and has removed A, not committed yet
    result = write_gallery(mariadb, plan, run_id="run-2")
    written_at = time.monotonic()
    admin.join(10)
    assert done and done[0] <= written_at  # the write waited for the admin's commit
    assert result.replanned_chunks == 1  # and saw it: the chunk was planned again under the lock
    assert [g[:2] for g in gallery(mariadb, "S1")] == [(A, "v2"), (B, "v2")]  # A inserted again, not lost
    assert [g[:2] for g in gallery(mariadb, "S2")] == [(A, "v2")]
    assert result.counts()["inserted"] == 1
