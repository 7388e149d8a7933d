"""Post-write verification in the database: does Magento hold what the write says it wrote?

Set-based: one SELECT per chunk of products reads every gallery link of those products with its store-0 value
row and stored ETag; pandas compares that with the written rows. No storage request is made here (what storage
holds was snapshotted before the plan; see `defs/assets/batch_assets.py` for the bounded storage re-check).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.paths import canonical_values
from nacento_pipeline.magento.database import MagentoDatabase

CHUNK = 1000  # products per SELECT (about 5,000 gallery rows at 5 images per product)

# Actions after which the (product, path) link must exist with a store-0 row and the written ETag.
KEPT_ACTIONS = ("inserted", "updated_value", "updated_meta")
# Actions after which the (product, path) link must be gone.
REMOVED_ACTIONS = ("purged",)
MISMATCH_COLUMNS = ["sku", "value", "action", "problem"]


def _links_query(db: MagentoDatabase, entity_ids: list[int]) -> sa.Select:
    """Every gallery link of these products with its store-0 value row (record_id) and stored ETag."""
    t = db.tables
    vte, g, v, m = t.value_to_entity, t.media_gallery, t.media_gallery_value, t.gallery_meta
    link = vte.c[t.link]
    return (
        sa.select(link, g.c.value, v.c.record_id, m.c.s3_etag)
        .join(g, g.c.value_id == vte.c.value_id)
        .outerjoin(v, sa.and_(v.c.value_id == vte.c.value_id, v.c[t.link] == link, v.c.store_id == 0))
        .outerjoin(m, m.c.record_id == v.c.record_id)
        .where(link.in_(entity_ids), g.c.attribute_id == db.attribute_ids().media_gallery)
    )


def read_gallery_links(db: MagentoDatabase, entity_ids: Iterable[int]) -> pd.DataFrame:
    """entity_id, value (canonical), has_row (a store-0 value row), s3_etag of every gallery link of the
    products: one SELECT per CHUNK products. Read once after a write, for this check and the roles check."""
    entity_ids = sorted({int(i) for i in entity_ids})
    rows: list[tuple] = []
    with db.engine.connect() as conn:
        for chunk in chunked(entity_ids, CHUNK):
            rows += [tuple(r) for r in conn.execute(_links_query(db, chunk))]
    frame = pd.DataFrame(rows, columns=["entity_id", "value", "record_id", "s3_etag"])
    frame["entity_id"] = frame["entity_id"].astype("int64")
    frame["value"] = canonical_values(frame["value"])
    frame["has_row"] = frame["record_id"].notna()
    frame["s3_etag"] = frame["s3_etag"].fillna("").astype(str)
    # a path linked twice (legacy duplicates) counts once: the row with an ETag wins
    frame = frame.sort_values("s3_etag", ascending=False, kind="stable")
    return frame.drop_duplicates(["entity_id", "value"])[["entity_id", "value", "has_row", "s3_etag"]]


def _problems(merged: pd.DataFrame) -> pd.Series:
    """Why each written row (merged with the links read back) is not reflected, "" when it is."""
    linked = merged["_merge"] == "both"
    has_row = merged["has_row"].astype("boolean").fillna(False).astype(bool)
    stored = merged["s3_etag"].fillna("").astype(str)
    written = merged["etag"]
    removed = merged["action"].isin(REMOVED_ACTIONS)
    etag_differs = (written != "") & (stored != written)
    conditions = [removed & linked, removed, ~linked, ~has_row, etag_differs]
    choices = ["still linked", "", "not linked to the product", "no store-0 value row",
               "stored ETag " + stored.where(stored != "", "-") + " != written " + written]
    return pd.Series(np.select(conditions, choices, default=""), index=merged.index, dtype=object)


def written_rows_mismatches(items: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Written delta rows (KEPT_ACTIONS / REMOVED_ACTIONS of `items`, core.frames.DELTA_COLUMNS) that the
    gallery links read back (`read_gallery_links` of at least the written products) do not reflect:
    sku, value, action, problem. Empty when the write is all there."""
    written = items[items["action"].isin(KEPT_ACTIONS + REMOVED_ACTIONS) & (items["entity_id"].astype(int) > 0)]
    if written.empty:
        return pd.DataFrame(columns=MISMATCH_COLUMNS)
    written = written.assign(entity_id=written["entity_id"].astype("int64"), value=canonical_values(written["value"]),
                             etag=written["etag"].fillna("").astype(str))
    merged = written.merge(links, on=["entity_id", "value"], how="left", indicator=True)
    merged["problem"] = _problems(merged)
    bad = merged[merged["problem"] != ""]
    return bad[MISMATCH_COLUMNS].sort_values(["sku", "value"], kind="stable").reset_index(drop=True)
