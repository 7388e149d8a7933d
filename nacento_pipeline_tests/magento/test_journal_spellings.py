"""The undo journal and the spelling rewrites of other products (magento.spellings): a product the batch does
not list, whose row of a file the batch inserts is rewritten to the canonical spelling, is journaled in the
same transaction and restored by revert_batch byte for byte, or skipped when edited since."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from nacento_pipeline.magento.demo import DEMO_ATTRIBUTE_IDS
from nacento_pipeline.magento.journal import revert_batch
from nacento_pipeline_tests.magento.gallery_helpers import T1, A, C, legacy_rows, sync
from nacento_pipeline_tests.magento.test_journal import dump, edit_then_revert, product_rows, without_product

D = "/a/b/d.jpg"


def legacy_image(db, sku: str, value: str) -> None:
    """`sku` holds `value` (a legacy spelling) as a gallery row and as its base image role."""
    legacy_rows(db, sku, [value])
    t = db.tables
    with db.engine.begin() as conn:
        entity = conn.execute(sa.select(t.product.c.entity_id).where(t.product.c.sku == sku)).scalar_one()
        conn.execute(
            t.varchar.insert().values(
                attribute_id=DEMO_ATTRIBUTE_IDS["image"], store_id=0, entity_id=entity, value=value
            )
        )


def values_of(db, sku: str) -> list[str]:
    t = db.tables
    query = (
        sa.select(t.media_gallery.c.value)
        .join(t.value_to_entity, t.value_to_entity.c.value_id == t.media_gallery.c.value_id)
        .join(t.product, t.product.c.entity_id == t.value_to_entity.c.entity_id)
        .where(t.product.c.sku == sku)
        .order_by(t.media_gallery.c.value)
    )
    with db.engine.connect() as conn:
        return [str(v) for v in conn.execute(query).scalars()]


def journaled(db, batch_key: str) -> dict[str, str]:
    j = db.tables.batch_journal
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.select(j.c.sku, j.c.scope).where(j.c.batch_key == batch_key)).all())


def test_a_product_whose_spelling_the_batch_rewrites_is_restored_by_the_revert(db):
    legacy_image(db, "S2", "a/b/a.jpg")  # S2 is not in the batch
    before = dump(db)
    sync(db, [("S1", A, "front", 1, False, "image")], batch_key="media_first")
    assert values_of(db, "S2") == [A]  # rewritten to the canonical spelling
    assert journaled(db, "media_first") == {"S1": "gallery", "S2": "gallery"}

    result = revert_batch(db, "media_first", run_id="revert-1")
    assert result.counts() == {"reverted": 2, "skipped_changed_since": 0, "already_reverted": 0}
    assert dump(db) == before
    assert values_of(db, "S2") == ["a/b/a.jpg"]


def test_a_rewritten_product_edited_since_is_skipped_and_listed(db):
    legacy_image(db, "S2", "a/b/a.jpg")
    before = dump(db)
    sync(db, [("S1", A, "front", 1, False, "image")], batch_key="media_first")
    result, edited, now = edit_then_revert(db, "S2", "media_first")
    assert result.counts() == {"reverted": 1, "skipped_changed_since": 1, "already_reverted": 0}
    assert without_product(db, now, "S2", before) == without_product(db, before, "S2", now)  # S1 restored
    assert values_of(db, "S2") == [A]  # S2 as the admin left it
    assert product_rows(db, now, "S2", edited) == product_rows(db, edited, "S2", now)


def test_a_product_journaled_for_its_sync_state_then_rewritten_keeps_its_whole_before_image(db):
    """S2 is in the batch but unchanged (its entry covers its sync state only) when a later chunk of the same
    batch inserts a file S2 holds in a legacy spelling: the entry widens to the whole product, with the sync
    state from before the batch."""
    sync(
        db, [("S1", A, "front", 1, False, "image"), ("S2", C, "side", 1, False, "image")], batch_key="media_1"
    )
    legacy_rows(db, "S2", ["a/b/d.jpg"])  # appended by another tool since
    before = dump(db)
    rows = [
        ("S1", A, "front", 1, False, "image"),
        ("S2", C, "side", 1, False, "image"),
        ("S3", D, "s3", 1, False, "image"),  # chunk 2 (chunks of 2 SKUs): inserts d.jpg canonically
    ]
    sync(db, rows, mode="append", batch_key="media_2", batch_time=T1 + timedelta(hours=1))
    assert values_of(db, "S2") == [C, D]  # its a/b/d.jpg rewritten
    assert journaled(db, "media_2")["S2"] == "gallery"

    result = revert_batch(db, "media_2", run_id="revert-1")
    assert result.counts()["skipped_changed_since"] == 0
    assert dump(db) == before
