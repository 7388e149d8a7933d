"""Role safety: no write leaves a role (in any store) naming an image outside the product's gallery, in
particular when one image of a SKU is missing from storage (roles frozen, purge held back for what they name).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from nacento_pipeline.magento.demo import DEMO_ATTRIBUTE_IDS
from nacento_pipeline.magento.gallery.audit import roles_outside_gallery
from nacento_pipeline_tests.magento.gallery_helpers import (
    gallery,
    roles,
    sync,
)

A, B, C, D, E, F = (f"/r/s/{n}.jpg" for n in "abcdef")


def store_roles(db, sku):
    t = db.tables
    code_of = {v: k for k, v in DEMO_ATTRIBUTE_IDS.items()}
    q = (
        sa.select(t.varchar.c.store_id, t.varchar.c.attribute_id, t.varchar.c.value)
        .join(t.product, t.product.c.entity_id == t.varchar.c.entity_id)
        .where(t.product.c.sku == sku, t.varchar.c.store_id > 0)
    )
    with db.engine.connect() as conn:
        return {(s, code_of[a]): v for s, a, v in conn.execute(q)}


def entity_ids(db, *skus):
    t = db.tables
    with db.engine.connect() as conn:
        return conn.execute(sa.select(t.product.c.entity_id).where(t.product.c.sku.in_(skus))).scalars().all()


@pytest.mark.parametrize("mode", ["replace", "replace_owned"])
def test_missing_image_freezes_roles_and_keeps_every_image_they_name(db, mode):
    sync(
        db,
        [
            ("S1", A, "a", 1, False, "image|small_image"),
            ("S1", B, "b", 2, False, "thumbnail"),
            ("S1", C, "c", 3),
            ("S1", D, "d", 4),
        ],
    )
    t = db.tables
    link = entity_ids(db, "S1")[0]
    with db.engine.begin() as conn:  # a store-level role set in the admin for store 2: C
        conn.execute(
            t.varchar.insert().values(
                attribute_id=DEMO_ATTRIBUTE_IDS["small_image"], store_id=2, entity_id=link, value=C
            )
        )
    # The next batch lists only E (present) and F (missing in storage): A-D are not listed.
    result = sync(
        db,
        [("S1", E, "e", 1, False, "image"), ("S1", F, "f", 2, False, "thumbnail")],
        missing=[F],
        batch_key="media_2",
        mode=mode,
    )
    assert result.counts()["invalid"] == 1
    kept = [g[0] for g in gallery(db, "S1")]
    # D (no role) is purged; A, B (store-0 roles) and C (store 2's role) stay, as the frozen roles name them.
    assert kept == [A, B, C, E]
    frozen = roles(db, "S1")
    assert (frozen["image"], frozen["small_image"], frozen["thumbnail"]) == (A, A, B)
    assert store_roles(db, "S1")[(2, "small_image")] == C
    assert roles_outside_gallery(db, [link]).empty


def test_once_the_file_is_back_roles_move_and_purge_completes(db):
    sync(db, [("S1", A, "a", 1, False, "image"), ("S1", B, "b", 2)])
    sync(db, [("S1", E, "e", 1, False, "image"), ("S1", F, "f", 2)], missing=[F], batch_key="media_2")
    assert [g[0] for g in gallery(db, "S1")] == [A, E]
    sync(db, [("S1", E, "e", 1, False, "image"), ("S1", F, "f", 2)], batch_key="media_3")
    assert [g[0] for g in gallery(db, "S1")] == [E, F]
    assert roles(db, "S1")["image"] == E
    assert roles_outside_gallery(db, entity_ids(db, "S1")).empty


def test_roles_outside_gallery_sees_store_level_roles(db):
    sync(db, [("S1", A, "a", 1, False, "image")])
    t = db.tables
    link = entity_ids(db, "S1")[0]
    with db.engine.begin() as conn:
        conn.execute(
            t.varchar.insert().values(
                attribute_id=DEMO_ATTRIBUTE_IDS["thumbnail"],
                store_id=3,
                entity_id=link,
                value="/not/in/gallery.jpg",
            )
        )
    bad = roles_outside_gallery(db, [link])
    assert bad[["role", "value", "store_id"]].values.tolist() == [["thumbnail", "/not/in/gallery.jpg", 3]]
