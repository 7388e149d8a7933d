"""The fault tests' shared scenario: 60 SKUs x 3 images in 10 chunks, a first batch, then a second one that
relabels, replaces one image per SKU (a purge and an insert) and moves roles; plus what "the same tables"
means.

`gallery_state` reads, per SKU, everything a write decides (gallery rows with their store-0 values and ETags,
store-0 roles and the sync state), by value rather than by id, so two databases can be compared.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
from nacento_pipeline.magento.gallery.sync import sync_gallery
from nacento_pipeline_tests.helpers import FakeBatch, etag_frame, image_frame

SKUS = [f"F{i:03d}" for i in range(60)]
TIMES = {
    1: datetime(2026, 3, 1, tzinfo=UTC),
    2: datetime(2026, 3, 2, tzinfo=UTC),
    3: datetime(2026, 3, 3, tzinfo=UTC),
}
CHUNK = 6


def rows_for(version: int, skus: list[str]) -> list[tuple]:
    """Version 1: images 0,1,2, base role on 0. Version n>1: images 1,2,n+1 (0 purged), relabelled, the base
    role on image 1 and small_image on the new one."""
    if version == 1:
        return [
            (s, f"/f/{s}/{i}.jpg", f"v1 {i}", i + 1, False, "image|thumbnail" if i == 0 else "")
            for s in SKUS
            if s in skus
            for i in range(3)
        ]
    return [
        (
            s,
            f"/f/{s}/{i}.jpg",
            f"v{version} {i}",
            i,
            False,
            "image|thumbnail" if i == 1 else ("small_image" if i == version + 1 else ""),
        )
        for s in SKUS
        if s in skus
        for i in (1, 2, version + 1)
    ]


def write_version(
    db: MagentoDatabase, version: int, skus: list[str] | None = None, *, chunk_size: int = CHUNK
):
    images = image_frame(rows_for(version, SKUS if skus is None else skus))
    etags = etag_frame({v: f"etag-{v}" for v in images["value"]})
    return sync_gallery(
        db,
        FakeBatch(images),
        etags,
        mode="replace",
        chunk_size=chunk_size,
        batch_key=f"media_v{version}",
        batch_time=TIMES[version],
        run_id=f"run-v{version}",
    )


def prepare(url: str, skus: Sequence[str] = SKUS) -> MagentoDatabase:
    """The demo schema and the scenario's products (no gallery yet)."""
    db = MagentoDatabase(url)
    create_demo_schema(db.engine)
    db.refresh_schema()
    seed_demo_products(db.engine, list(skus))
    return db


def gallery_state(db: MagentoDatabase, skus: list[str] | None = None) -> dict[str, tuple]:
    """sku -> (sorted gallery rows, sorted store-0 roles, last batch key)."""
    t = db.tables
    attrs = db.attribute_ids()
    code_of = {aid: code for code, aid in attrs.varchar_codes().items()}
    with db.engine.connect() as conn:
        gallery = conn.execute(
            sa.select(
                t.product.c.sku,
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
        ).all()
        roles = conn.execute(
            sa.select(t.product.c.sku, t.varchar.c.attribute_id, t.varchar.c.value)
            .join(t.varchar, t.varchar.c.entity_id == t.product.c.entity_id)
            .where(t.varchar.c.store_id == 0, t.varchar.c.attribute_id.in_(list(code_of)))
        ).all()
        synced = dict(
            conn.execute(sa.select(t.sku_sync_state.c.sku, t.sku_sync_state.c.last_batch_key)).all()
        )
    state: dict[str, tuple] = {}
    for sku in SKUS if skus is None else skus:
        rows = sorted(tuple(str(x) for x in r[1:]) for r in gallery if r[0] == sku)
        sku_roles = sorted((code_of[int(a)], str(v)) for s, a, v in roles if s == sku)
        state[sku] = (tuple(rows), tuple(sku_roles), synced.get(sku))
    return state


def reference_state(url: str, versions: list[tuple[int, list[str] | None]]) -> dict[str, tuple]:
    """The tables after writing these versions one after the other, uninterrupted, on a fresh database."""
    db = prepare(url)
    try:
        for version, skus in versions:
            write_version(db, version, skus)
        return gallery_state(db)
    finally:
        db.dispose()


def half_written(final: dict[str, tuple], *allowed: dict[str, tuple]) -> list[str]:
    """SKUs whose final state is none of the allowed whole states (before or after a batch)."""
    return [sku for sku in SKUS if all(final[sku] != state[sku] for state in allowed)]


if (
    __name__ == "__main__"
):  # a second writer process: python -m nacento_pipeline_tests.faults.scenario URL VERSION FIRST LAST
    url, version, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    writer = MagentoDatabase(url)
    write_version(writer, version, SKUS[first:last])
    writer.dispose()
