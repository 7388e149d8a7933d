"""Baseline for the benchmark: the original connector's strategy, re-implemented naively on purpose.

Per SKU one transaction: look the product up, HEAD every image, read the product's gallery, then a few
statements per image (the connector's "bulk invokes the single-SKU logic"). Only for comparison.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from nacento_pipeline.core.frames import NO_SELECTION, ROLE_CODES
from nacento_pipeline.core.paths import legacy_variant, object_key
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.storage.adapters.base import ObjectStore


@dataclass
class NaiveResult:
    """Connector-style counters of one naive run."""

    skus: int = 0
    images: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("inserted", "updated", "skipped_noop", "invalid", "purged", "error"), 0
        )
    )


def _upsert(
    db: MagentoDatabase, table: sa.Table, row: dict, keys: list[str], update: list[str]
) -> sa.Executable:
    if db.is_mysql:
        stmt = mysql.insert(table).values(row)
        return stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in update})
    stmt = (postgresql if db.dialect == "postgresql" else sqlite).insert(table).values(row)
    return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update})


def _sync_sku(
    conn: sa.Connection,
    db: MagentoDatabase,
    store: ObjectStore,
    sku: str,
    images: pd.DataFrame,
    counts: dict[str, int],
) -> None:
    t = db.tables
    attrs = db.attribute_ids()
    link = t.link
    mg, val, vte, meta, var = (
        t.media_gallery,
        t.media_gallery_value,
        t.value_to_entity,
        t.gallery_meta,
        t.varchar,
    )
    # 1. the product
    entity = conn.execute(sa.select(t.product.c[link]).where(t.product.c.sku == sku)).scalar()
    if entity is None:
        counts["error"] += len(images)
        return
    # 2. one HEAD per image
    etags: dict[str, str | None] = {}
    for value in images["value"]:
        info = store.head(object_key(value))
        etags[value] = info.etag if info else None
    # 3. the product's current gallery with stored ETags
    rows = conn.execute(
        sa.select(
            mg.c.value_id,
            mg.c.value,
            val.c.record_id,
            val.c.label,
            val.c.position,
            val.c.disabled,
            meta.c.s3_etag,
        )
        .select_from(vte)
        .join(mg, mg.c.value_id == vte.c.value_id)
        .join(val, sa.and_(val.c.value_id == vte.c.value_id, val.c[link] == vte.c[link], val.c.store_id == 0))
        .outerjoin(meta, meta.c.record_id == val.c.record_id)
        .where(vte.c[link] == entity, mg.c.attribute_id == attrs.media_gallery)
    ).all()
    existing = {"/" + r.value.lstrip("/"): r for r in rows}
    any_invalid = False
    for image in images.itertuples(index=False):
        etag = etags[image.value]
        if etag is None:
            counts["invalid"] += 1
            any_invalid = True
            continue
        current = existing.get(image.value)
        if current is not None:
            changed = False
            if (current.label or "", int(current.position or 0), int(current.disabled)) != (
                image.label,
                max(0, int(image.position)),
                int(image.disabled),
            ):
                conn.execute(
                    sa.update(val)
                    .where(val.c.record_id == current.record_id)
                    .values(
                        label=image.label, position=max(0, int(image.position)), disabled=int(image.disabled)
                    )
                )
                changed = True
            if (current.s3_etag or "") != etag:
                conn.execute(
                    _upsert(
                        db,
                        meta,
                        {"record_id": current.record_id, "s3_etag": etag},
                        ["record_id"],
                        ["s3_etag"],
                    )
                )
                changed = True
            counts["updated" if changed else "skipped_noop"] += 1
            continue
        # 5. a new image: reuse the shared path row or insert one, link, value row, ETag
        value_id = conn.execute(
            sa.select(mg.c.value_id)
            .where(
                mg.c.attribute_id == attrs.media_gallery,
                mg.c.value.in_([image.value, legacy_variant(image.value)]),
            )
            .limit(1)
        ).scalar()
        if value_id is None:
            value_id = conn.execute(
                mg.insert().values(
                    attribute_id=attrs.media_gallery, value=image.value, media_type="image", disabled=0
                )
            ).inserted_primary_key[0]
        linked = conn.execute(
            sa.select(vte.c.value_id).where(vte.c.value_id == value_id, vte.c[link] == entity)
        ).first()
        if linked is None:
            conn.execute(vte.insert().values({"value_id": value_id, link: entity}))
        record_id = conn.execute(
            val.insert().values(
                {
                    "value_id": value_id,
                    "store_id": 0,
                    link: entity,
                    "label": image.label,
                    "position": max(0, int(image.position)),
                    "disabled": int(image.disabled),
                }
            )
        ).inserted_primary_key[0]
        conn.execute(meta.insert().values(record_id=record_id, s3_etag=etag))
        counts["inserted"] += 1
    # 6. replace semantics: rows not in the payload go, one by one
    wanted = set(images["value"])
    for value, row in existing.items():
        if value not in wanted:
            conn.execute(sa.delete(val).where(val.c.record_id == row.record_id))
            conn.execute(sa.delete(vte).where(vte.c.value_id == row.value_id, vte.c[link] == entity))
            counts["purged"] += 1
    # 7. roles: reset to no_selection, then the last image carrying each role
    if any_invalid:
        return
    for code in ROLE_CODES:
        row = {"attribute_id": attrs.roles[code], "store_id": 0, link: entity, "value": NO_SELECTION}
        conn.execute(_upsert(db, var, row, [link, "attribute_id", "store_id"], ["value"]))
    assigned: dict[str, str] = {}
    for image in images.itertuples(index=False):
        for code in filter(None, str(image.roles).split("|")):
            assigned[code] = image.value
    for code, value in assigned.items():
        row = {"attribute_id": attrs.roles[code], "store_id": 0, link: entity, "value": value}
        conn.execute(_upsert(db, var, row, [link, "attribute_id", "store_id"], ["value"]))


def naive_sync(
    db: MagentoDatabase, store: ObjectStore, images: pd.DataFrame, skus: Iterable[str] | None = None
) -> NaiveResult:
    """Sync `images` (frames.IMAGE_COLUMNS) SKU by SKU, one transaction each, the connector's way."""
    result = NaiveResult()
    started = time.perf_counter()
    by_sku = dict(tuple(images.groupby("sku", sort=False)))
    for sku in skus if skus is not None else by_sku:
        part = by_sku.get(sku)
        if part is None:
            continue
        result.skus += 1
        result.images += len(part)
        with db.engine.begin() as conn:
            _sync_sku(conn, db, store, sku, part, result.counts)
    result.seconds = time.perf_counter() - started
    return result
