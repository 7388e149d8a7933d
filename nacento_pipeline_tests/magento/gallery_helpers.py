"""Helpers of the gallery tests: sync a few rows through the engine, read a product's gallery and roles."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from nacento_pipeline.magento.demo import DEMO_ATTRIBUTE_IDS
from nacento_pipeline.magento.gallery.sync import sync_gallery
from nacento_pipeline_tests.helpers import FakeBatch, etag_frame, image_frame

A, B, C = "/a/b/a.jpg", "/a/b/b.jpg", "/a/b/c.jpg"
T1 = datetime(2026, 3, 1, 12, 0, 0, 654321, tzinfo=UTC)


def etags_for(values, version="1", missing=()):
    return etag_frame({v: f"{version}-{v}" for v in values if v not in set(missing)}, missing)


def sync(
    db,
    rows,
    *,
    version="1",
    missing=(),
    mode="replace",
    batch_key="media_1",
    batch_time=T1,
    force=False,
    invalid_skus=(),
    extra_payload=(),
    rejections=None,
):
    images = image_frame(rows)
    batch = FakeBatch(
        images,
        invalid_skus=set(invalid_skus),
        extra_payload=tuple(extra_payload),
        **({"rejections": rejections} if rejections is not None else {}),
    )
    return sync_gallery(
        db,
        batch,
        etags_for(set(images["value"]), version, missing),
        mode=mode,
        chunk_size=2,
        batch_key=batch_key,
        batch_time=batch_time,
        run_id="run-1",
        force=force,
    )


def gallery(db, sku):
    """(value, label, position, disabled, etag) of the SKU's store-0 gallery, sorted by value."""
    t = db.tables
    q = (
        sa.select(
            t.media_gallery.c.value,
            t.media_gallery_value.c.label,
            t.media_gallery_value.c.position,
            t.media_gallery_value.c.disabled,
            t.gallery_meta.c.s3_etag,
        )
        .select_from(t.product)
        .join(t.value_to_entity, t.value_to_entity.c.entity_id == t.product.c.entity_id)
        .join(t.media_gallery, t.media_gallery.c.value_id == t.value_to_entity.c.value_id)
        .outerjoin(
            t.media_gallery_value,
            sa.and_(
                t.media_gallery_value.c.value_id == t.value_to_entity.c.value_id,
                t.media_gallery_value.c.entity_id == t.product.c.entity_id,
                t.media_gallery_value.c.store_id == 0,
            ),
        )
        .outerjoin(t.gallery_meta, t.gallery_meta.c.record_id == t.media_gallery_value.c.record_id)
        .where(t.product.c.sku == sku)
        .order_by(t.media_gallery.c.value)
    )
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]


def roles(db, sku):
    t = db.tables
    code_of = {v: k for k, v in DEMO_ATTRIBUTE_IDS.items()}
    q = (
        sa.select(t.varchar.c.attribute_id, t.varchar.c.value)
        .join(t.product, t.product.c.entity_id == t.varchar.c.entity_id)
        .where(t.product.c.sku == sku, t.varchar.c.store_id == 0)
    )
    with db.engine.connect() as conn:
        return {code_of[a]: v for a, v in conn.execute(q)}


def count(db, table):
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def legacy_rows(db, sku, values):
    t = db.tables
    with db.engine.begin() as conn:
        eid = conn.execute(sa.select(t.product.c.entity_id).where(t.product.c.sku == sku)).scalar()
        for v in values:
            vid = conn.execute(
                t.media_gallery.insert().values(attribute_id=DEMO_ATTRIBUTE_IDS["media_gallery"], value=v)
            ).inserted_primary_key[0]
            conn.execute(t.value_to_entity.insert().values(value_id=vid, entity_id=eid))
            conn.execute(
                t.media_gallery_value.insert().values(
                    value_id=vid, entity_id=eid, store_id=0, label="old", position=0, disabled=0
                )
            )
