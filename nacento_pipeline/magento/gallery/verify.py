"""Post-write verification in the database: does Magento hold what the write says it wrote?

Set-based, in two speeds. The fast path (`check_written`): per chunk of products ONE aggregate statement makes
the database count and checksum what it holds for the written rows (the kept links with their store-0 value
row and ETag, the role values outside the product's gallery) and Python compares those few numbers with the
ones it computes from the write's rows. Only a chunk whose numbers disagree takes the slow path: every gallery
link of its products read back into pandas (`read_gallery_links`) and compared row by row
(`written_rows_mismatches`, and the audit's `roles_outside_gallery`), so a real mismatch is still reported
with sku, value, action and problem. Anything the fast path cannot vouch for byte for byte (a legacy value in
another form, a duplicated link, a case-different path on a case-insensitive collation) only makes the numbers
differ: that chunk is checked the slow way, never passed unseen. Purges are the exception, since what must be
gone may be spelled any way: the products with a purged row (few, usually) have their links read back and
compared on canonical paths (`_purges_left`).

The database checks make no storage request (what storage holds was snapshotted before the plan);
magento.gallery.verify_write's `verify_write` adds a bounded storage re-check through the lookup it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.paths import canonical_values
from nacento_pipeline.magento.catalog import live_link_ids
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.gallery.audit import roles_outside_gallery
from nacento_pipeline.magento.gallery.reader import unindexed
from nacento_pipeline.magento.gallery.verify_numbers import (
    CHUNK,
    KEPT_ACTIONS,
    ExpectedNumbers,
    agreeing_lane,
    expected_by_chunk,
    product_chunks,
    statement_lanes,
)

# Actions after which the (product, path) link must be gone.
REMOVED_ACTIONS = ("purged",)
MISMATCH_COLUMNS = ["sku", "value", "action", "problem"]
BAD_ROLE_COLUMNS = ["entity_id", "role", "value", "store_id"]


def _links_query(db: MagentoDatabase, link_ids: list[int]) -> sa.Select:
    """Every gallery link of these product links with its store-0 value row (record_id) and stored ETag."""
    t = db.tables
    vte, g, v, m = t.value_to_entity, t.media_gallery, t.media_gallery_value, t.gallery_meta
    link = vte.c[t.link]
    return (
        sa.select(link, g.c.value, v.c.record_id, m.c.s3_etag)
        .join(g, g.c.value_id == vte.c.value_id)
        .outerjoin(v, sa.and_(v.c.value_id == vte.c.value_id, v.c[t.link] == link, v.c.store_id == 0))
        .outerjoin(m, m.c.record_id == v.c.record_id)
        .where(
            link.in_(link_ids),
            unindexed(g.c.attribute_id) == db.attribute_ids().media_gallery,
            g.c.disabled == 0,
        )  # a row disabled at row level is not there for Magento
    )


def read_gallery_links(db: MagentoDatabase, entity_ids: Iterable[int]) -> pd.DataFrame:
    """entity_id, value (canonical), has_row (a store-0 value row), s3_etag of the products' gallery links.

    One SELECT per CHUNK products, by link column (catalog.live_link_ids). The slow path of the check after a
    write, read once for the written-rows and the roles comparison.
    """
    rows: list[tuple] = []
    with db.engine.connect() as conn:
        entity_of = {link: entity for entity, link in live_link_ids(conn, db.tables, entity_ids).items()}
        for chunk in chunked(sorted(entity_of), CHUNK):
            rows += [tuple(r) for r in conn.execute(_links_query(db, chunk))]
    frame = pd.DataFrame(rows, columns=["link_id", "value", "record_id", "s3_etag"])
    frame["entity_id"] = frame["link_id"].astype("int64").map(entity_of).astype("int64")
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
    choices = [
        "still linked",
        "",
        "not linked to the product",
        "no store-0 value row",
        "stored ETag " + stored.where(stored != "", "-") + " != written " + written,
    ]
    return pd.Series(np.select(conditions, choices, default=""), index=merged.index, dtype=object)


def _written_rows(items: pd.DataFrame) -> pd.DataFrame:
    """The rows of `items` the write says it wrote or removed.

    With int entity_id, canonical value and str etag.
    """
    written = items[
        items["action"].isin(KEPT_ACTIONS + REMOVED_ACTIONS) & (items["entity_id"].astype(int) > 0)
    ]
    return written.assign(
        entity_id=written["entity_id"].astype("int64"),
        value=canonical_values(written["value"]),
        etag=written["etag"].fillna("").astype(str),
    )


def written_rows_mismatches(items: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Written delta rows that the gallery links read back do not reflect: sku, value, action, problem.

    The rows are the KEPT_ACTIONS / REMOVED_ACTIONS of `items` (core.frames.DELTA_COLUMNS); `links` is
    `read_gallery_links` of at least the written products. Empty when the write is all there.
    """
    written = _written_rows(items)
    if written.empty:
        return pd.DataFrame(columns=MISMATCH_COLUMNS)
    merged = written.merge(links, on=["entity_id", "value"], how="left", indicator=True)
    merged["problem"] = _problems(merged)
    bad = merged[merged["problem"] != ""]
    return bad[MISMATCH_COLUMNS].sort_values(["sku", "value"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------------
# The fast path: a few numbers per chunk of products, computed by the database and by Python


@dataclass(frozen=True)
class WrittenCheck:
    """What `check_written` found.

    The mismatches and bad roles (both empty when the write is all there), the chunks of products checked
    and how many of them took the slow path.
    """

    mismatches: pd.DataFrame  # MISMATCH_COLUMNS
    bad_roles: pd.DataFrame  # BAD_ROLE_COLUMNS
    chunks: int
    slow_chunks: int


def _purges_left(
    db: MagentoDatabase, items: pd.DataFrame, written: pd.DataFrame, checked: set[int]
) -> pd.DataFrame:
    """Purged rows still linked, compared on canonical paths.

    The links of the products with a purged row (those not already read back by the slow path, `checked`) read
    back and compared row by row. A link left as `//p` or ` /p` is the same image to Magento's storefront and
    must be reported; its bytes differ from any spelling the fast path's checksums could name.
    """
    purging = sorted(
        set(written.loc[written["action"].isin(REMOVED_ACTIONS), "entity_id"].tolist()) - checked
    )
    if not purging:
        return pd.DataFrame(columns=MISMATCH_COLUMNS)
    removed = items[items["action"].isin(REMOVED_ACTIONS) & items["entity_id"].astype("int64").isin(purging)]
    return written_rows_mismatches(removed, read_gallery_links(db, purging))


def _store_rows_query(db: MagentoDatabase, link_ids: list[int]) -> sa.Select:
    """The store-level (store_id > 0) value rows of these product links, with their gallery path."""
    t = db.tables
    v, g = t.media_gallery_value, t.media_gallery
    return (
        sa.select(v.c[t.link], g.c.value, v.c.store_id, v.c.label, v.c.position, v.c.disabled)
        .join(g, g.c.value_id == v.c.value_id)
        .where(v.c[t.link].in_(link_ids), v.c.store_id > 0)
    )


def store_value_mismatches(db: MagentoDatabase, store_values: pd.DataFrame) -> pd.DataFrame:
    """Store-level value rows the write set that the database does not hold as written.

    The rows are core.frames.STORE_WRITE_COLUMNS; label, position, disabled compared, NULL as NULL. Returns
    sku, value, action "store_value", problem. One SELECT per CHUNK products, the rows read back once.
    """
    if store_values.empty:
        return pd.DataFrame(columns=MISMATCH_COLUMNS)
    wanted = store_values.assign(
        entity_id=store_values["entity_id"].astype("int64"),
        value=canonical_values(store_values["value"]),
        store_id=store_values["store_id"].astype("int64"),
    )
    rows: list[tuple] = []
    with db.engine.connect() as conn:
        entity_of = {
            link: entity for entity, link in live_link_ids(conn, db.tables, wanted["entity_id"]).items()
        }
        for chunk in chunked(sorted(entity_of), CHUNK):
            rows += [tuple(r) for r in conn.execute(_store_rows_query(db, chunk))]
    held = pd.DataFrame(
        rows, columns=["link_id", "value", "store_id", "db_label", "db_position", "db_disabled"]
    )
    held["entity_id"] = held["link_id"].astype("int64").map(entity_of).astype("int64")
    held["value"] = canonical_values(held["value"])
    held["store_id"] = held["store_id"].astype("int64")
    held = held.drop_duplicates(["entity_id", "value", "store_id"], keep="last")
    merged = wanted.merge(held, on=["entity_id", "value", "store_id"], how="left", indicator=True)
    store = "store " + merged["store_id"].astype(str)
    problems = pd.Series("", index=merged.index, dtype=object)
    for name, db_name in (("label", "db_label"), ("position", "db_position"), ("disabled", "db_disabled")):
        written = merged[name].astype(object).where(merged[name].notna(), None).map(_comparable)
        found = merged[db_name].astype(object).where(merged[db_name].notna(), None).map(_comparable)
        differs = written != found
        problems = problems.where(
            ~differs | (problems != ""),
            name + " in " + store + " is " + found.map(repr) + ", written " + written.map(repr),
        )
    problems = problems.where(merged["_merge"] == "both", "no value row in " + store)
    bad = merged.assign(action="store_value", problem=problems)
    bad = bad[bad["problem"] != ""]
    return bad[MISMATCH_COLUMNS].sort_values(["sku", "value"], kind="stable").reset_index(drop=True)


def _comparable(value: object) -> object:
    """A stored or written field as one comparable thing: whole numbers as int, text as str, NULL as None."""
    if value is None:
        return None
    if isinstance(value, (bool, int, float, np.integer, np.floating)):
        return int(value)
    return str(value)


def check_written(
    db: MagentoDatabase,
    items: pd.DataFrame,
    entity_ids: Iterable[int],
    store_values: pd.DataFrame | None = None,
) -> WrittenCheck:
    """The write's rows against the database, and the roles of the products against their galleries.

    `items` holds core.frames.DELTA_COLUMNS, `entity_ids` the batch's products. One aggregate statement per
    CHUNK products, the detailed read-back and comparison only for the chunks whose numbers disagree. The
    store-level rows the write set (`store_values`, core.frames.STORE_WRITE_COLUMNS) are read back and
    compared field by field (`store_value_mismatches`).
    """
    written = _written_rows(items)
    ids = sorted({int(i) for i in entity_ids} | set(written["entity_id"].tolist()))
    chunks = product_chunks(ids, written["entity_id"].value_counts().to_dict())
    chunk_of = {entity: n for n, chunk in enumerate(chunks) for entity in chunk}
    written = written.assign(chunk=written["entity_id"].map(chunk_of))
    with db.engine.connect() as conn:
        link_of = live_link_ids(conn, db.tables, ids)
    expected = expected_by_chunk(written, link_of)
    nothing = ExpectedNumbers(0, 0, [])
    work = [
        (n, sorted({link_of[e] for e in chunk if e in link_of}), expected.get(n, nothing))
        for n, chunk in enumerate(chunks)
    ]
    lanes = statement_lanes(db, len(work))
    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="verify") as pool:
        agreed = pool.map(lambda lane: agreeing_lane(db, work[lane::lanes]), range(lanes))
        slow = [chunks[n] for n in sorted(n for lane in agreed for n, ok in lane if not ok)]
    mismatches, bad_roles = [pd.DataFrame(columns=MISMATCH_COLUMNS)], [pd.DataFrame(columns=BAD_ROLE_COLUMNS)]
    mismatches.append(_purges_left(db, items, written, {e for chunk in slow for e in chunk}))
    if store_values is not None:
        mismatches.append(store_value_mismatches(db, store_values))
    for chunk in slow:
        links_read = read_gallery_links(db, chunk)
        mismatches.append(
            written_rows_mismatches(items[items["entity_id"].astype("int64").isin(chunk)], links_read)
        )
        bad_roles.append(roles_outside_gallery(db, chunk, gallery_links=links_read))
    return WrittenCheck(
        mismatches=concat_frames(mismatches)
        .sort_values(["sku", "value"], kind="stable")
        .reset_index(drop=True),
        bad_roles=concat_frames(bad_roles).reset_index(drop=True),
        chunks=len(chunks),
        slow_chunks=len(slow),
    )


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of the same columns one after the other (the first, empty, gives the columns)."""
    filled = [f for f in frames[1:] if len(f)]
    return pd.concat(filled, ignore_index=True) if filled else frames[0]
