"""Set-based writer of a gallery plan: per chunk of SKUs one transaction and a constant number of statements.

Under the writer lock each chunk's fingerprint (one aggregate statement over the rows its delta depends on) is
compared with the one the plan was computed from: equal, the planned delta is written as it is; different
(the products changed between plan and write), that chunk's state is read again and its delta recomputed.
Either way what is written (and reported) is the truth. The rows look as Magento's admin and import write
them: one media_gallery row per product and path, removal of the product's own row with its roles,
store-level rows, role labels, updated_at. Upserts only where a real unique key exists (varchar, meta,
value_to_entity, sync state); media_gallery and media_gallery_value rows are inserted, their ids taken from
the driver where the database makes a multi-row INSERT's ids consecutive, re-selected otherwise. Statements
are built from column arrays by bulk_sql.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.delta import (
    DeltaRequest,
    DeltaView,
    GalleryDelta,
    chunk_numbers,
    concat_deltas,
    cut_request,
    rows_per_chunk,
    split_delta,
    split_request,
    to_utc_naive,
)
from nacento_pipeline.core.delta_compute import delta_for
from nacento_pipeline.core.failure_text import failure_text
from nacento_pipeline.core.frames import (
    DELTA_COLUMNS,
    REJECTION_COLUMNS,
    ROLE_COLUMNS,
    SKU_RESULT_COLUMNS,
    empty_frame,
)
from nacento_pipeline.core.progress import progress_line
from nacento_pipeline.core.retry import DEFAULT_ATTEMPTS, backoff_delays, is_retriable, retry_call
from nacento_pipeline.magento import bulk_sql
from nacento_pipeline.magento.catalog import in_chunks
from nacento_pipeline.magento.database import AttributeIds, MagentoDatabase, WriterSession
from nacento_pipeline.magento.gallery_digest import advance_unchanged, record_applied
from nacento_pipeline.magento.gallery_reader import (
    IMAGE_MEDIA_TYPE,
    ChunkState,
    read_chunk_state,
    read_stores,
    state_fingerprint,
)
from nacento_pipeline.magento.journal import read_before, record
from nacento_pipeline.magento.schema import MagentoTables
from nacento_pipeline.magento.spellings import LegacySpellings

# Actions after which the product keeps the image (its store rows can be written).
KEPT_ACTIONS = ("inserted", "updated_value", "updated_meta", "skipped_no_change")


@dataclass
class WriteResult(DeltaView):
    """What was really written: the delta per chunk (planned, or recomputed where the chunk changed since the
    plan), statement counts, failures, and how many chunks had to be planned again under the lock."""

    delta: GalleryDelta
    statements: int = 0
    write_statements: int = 0
    errors: list[str] = field(default_factory=list)
    chunks: int = 0
    replanned_chunks: int = 0
    retries: int = 0
    seconds: float = 0.0

    def written_values(self) -> list[str]:
        """Gallery values this write inserted or updated (for post-write checks), sorted."""
        items = self.delta.items
        return sorted(set(items.loc[items["action"].isin(("inserted", "updated_value", "updated_meta")), "value"]))

    def entity_ids(self) -> list[int]:
        """Products of the batch's SKUs that were found (whether or not anything changed), sorted."""
        ids = set(self.delta.sku_results["entity_id"].astype("int64").tolist())
        ids.discard(0)
        return sorted(ids)


@dataclass(frozen=True)
class PlannedChunk:
    """One chunk of a plan: its SKUs, the delta computed from what was read, the fingerprint of that state
    (gallery_reader.state_fingerprint) and the parts of it the write needs (products, sync state). The delta
    carries no request (the plan holds it once)."""

    skus: tuple[str, ...]
    delta: GalleryDelta
    fingerprint: str
    products: pd.DataFrame
    sync_state: pd.DataFrame

    @classmethod
    def of(cls, skus: list[str], delta: GalleryDelta, state: ChunkState, fingerprint: str) -> PlannedChunk:
        return cls(tuple(skus), replace(delta, request=None), fingerprint, state.products, state.sync_state)

    def state(self) -> ChunkState:
        """What write_chunk reads of the chunk's state (the products' links, the sync state)."""
        empty = empty_frame(REJECTION_COLUMNS)
        return ChunkState(self.products, empty, empty, self.sync_state, empty)


@dataclass(frozen=True)
class GalleryPlan(DeltaView):
    """A batch's delta, planned chunk by chunk (read-only), ready to be written: the request, the chunk size it
    was cut with and, per chunk, the delta and the fingerprint of the state it was computed from. Picklable.

    Reads like a GalleryDelta (counts, items, roles, sku_results, warnings, totals, unknown_skus, mode)
    through `delta`, the chunks' deltas joined once.
    """

    request: DeltaRequest
    chunk_size: int
    chunks: tuple[PlannedChunk, ...]
    # sku -> digest of what is planned (core.gallery_digest), recorded by the write; None: nothing recorded
    digests: pd.Series | None = None
    # SKUs of the batch left out of the plan: what they would be planned with was applied already
    unchanged_skus: tuple[str, ...] = ()
    # those of them last written by another batch: their sync state is advanced to this one (gallery_digest)
    advance_skus: tuple[str, ...] = ()

    @cached_property
    def delta(self) -> GalleryDelta:  # type: ignore[override]  # DeltaView reads it; here joined once, on demand
        return concat_deltas([c.delta for c in self.chunks], self.request)

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the joined delta (rebuilt on demand): the chunks hold the same rows."""
        return {k: v for k, v in self.__dict__.items() if k != "delta"}

    @property
    def mode(self) -> str:
        return self.request.mode

    def parts(self) -> list[tuple[DeltaRequest, PlannedChunk]]:
        """Each chunk's request (the request cut again with the plan's chunk size) with its planned chunk."""
        requests = split_request(self.request, self.chunk_size)
        for sub, chunk in zip(requests, self.chunks, strict=True):
            if tuple(sub.skus) != chunk.skus:
                raise ValueError("plan and request disagree on the chunks' SKUs")
        return list(zip(requests, self.chunks, strict=True))


# ------------------------------------------------------------------------------------------------------
# Statements


def _upsert(
    conn: sa.Connection, db: MagentoDatabase, table: sa.Table, rows: list[dict] | pd.DataFrame | dict[str, bulk_sql.Column],
    keys: list[str], update: list[str], touch: str | None = None,
) -> None:
    """INSERT ... ON DUPLICATE KEY UPDATE / ON CONFLICT DO UPDATE on a real unique key, from column arrays
    (a frame, a dict of columns, or row dicts), multi-row statements (bulk_sql)."""
    columns = _as_columns(rows)
    if columns:
        bulk_sql.upsert(conn, table, columns, keys, update, touch)


def _as_columns(rows: list[dict] | pd.DataFrame | dict[str, bulk_sql.Column]) -> dict[str, bulk_sql.Column]:
    """Column arrays of `rows` ({} when there is no row)."""
    if isinstance(rows, pd.DataFrame):
        return {c: rows[c] for c in rows.columns} if len(rows) else {}
    if isinstance(rows, list):
        return {c: [r[c] for r in rows] for c in rows[0]} if rows else {}
    arrays = [v for v in rows.values() if isinstance(v, (pd.Series, np.ndarray, list, tuple))]
    return rows if arrays and len(arrays[0]) else {}


def _bulk_update(
    conn: sa.Connection, db: MagentoDatabase, table: sa.Table, keys: list[str], rows: pd.DataFrame,
    columns: dict[str, str],
) -> None:
    """Set `table.<target> = rows.<source>` (columns: target -> source) for the rows matched on `keys`:
    one joined UPDATE per statement-size part (bulk_sql.update)."""
    if rows.empty:
        return
    bulk_sql.update(conn, table, {k: rows[k] for k in keys}, {target: rows[source] for target, source in columns.items()})


def _pairs(frame: pd.DataFrame) -> list[tuple[int, int]]:
    unique = frame[["link_id", "value_id"]].drop_duplicates()
    return list(zip(unique["link_id"].astype(int).tolist(), unique["value_id"].astype(int).tolist(), strict=True))


def write_chunk(
    conn: sa.Connection,
    db: MagentoDatabase,
    attrs: AttributeIds,
    delta: GalleryDelta,
    state: ChunkState,
    *,
    batch_key: str,
    batch_time: datetime | None,
    run_id: str,
    spellings: LegacySpellings | None = None,
    journal: bool = True,
) -> None:
    """Execute one chunk's delta inside the caller's transaction (a constant number of statements). With
    `spellings`, other products' rows of a file the chunk inserts are rewritten to its canonical spelling
    (magento.spellings: Magento counts a file's uses by the exact value); with `journal`, the before-image of
    every product it changes goes into the undo journal in the same transaction (magento.journal)."""
    t = db.tables
    link_of = dict(zip(state.products["entity_id"].astype(int), state.products["link_id"].astype(int), strict=True))
    sync_changes = _sync_state_changes(delta, state, batch_key=batch_key, batch_time=batch_time)
    journaled = _journaled_products(delta, state, sync_changes) if journal else None
    before = read_before(conn, t, attrs, journaled) if journaled is not None and len(journaled) else None
    items = delta.items.copy()
    items["link_id"] = items["entity_id"].astype(int).map(link_of).fillna(0).astype("int64")
    items = _split_shared_rows(conn, db, t, attrs, items)
    _delete_value_rows(conn, t, delta.extra_value_rows["record_id"].astype(int).tolist())
    _remove(conn, t, items[items["action"].isin(("purged", "deduped"))])
    writes = items[items["action"].isin(("inserted", "updated_value", "updated_meta"))]
    new_rows = _insert_images(conn, db, t, attrs, writes[(writes["action"] == "inserted") | (writes["record_id"] == 0)])
    if spellings is not None:
        spellings.rewrite_for(conn, new_rows.loc[new_rows["action"] == "inserted", "value"].astype(str),
                              link_of.values())
    # ETags: every new value row, and every existing row whose content changed.
    meta = pd.concat(
        [new_rows[["record_id", "etag"]], writes.loc[(writes["record_id"] > 0) & writes["etag_changed"], ["record_id", "etag"]]]
    )
    _upsert(
        conn, db, t.gallery_meta,
        {"record_id": meta["record_id"].astype("int64"), "s3_etag": meta["etag"]},
        ["record_id"], ["s3_etag"], touch="updated_at",
    )
    changed = writes[(writes["record_id"] > 0) & writes["meta_changed"]]
    rows = pd.DataFrame({"record_id": changed["record_id"].astype(int), "label": _empty_as_null(changed["label"]),
                         "position": changed["position"].astype(int), "disabled": changed["disabled"].astype(int)})
    _bulk_update(conn, db, t.media_gallery_value, ["record_id"], rows,
                 {"label": "label", "position": "position", "disabled": "disabled"})
    # Store rows are written for every image the product keeps, changed or not (as Magento's import and admin
    # do: MediaGalleryProcessor::updateMediaGalleryField, CreateHandler::saveGalleryStoreValue).
    kept = items[items["action"].isin(KEPT_ACTIONS) & (items["value_id"] > 0)]
    value_ids = pd.concat([kept[["entity_id", "value", "value_id"]], new_rows[["entity_id", "value", "value_id"]]])
    _write_store_values(conn, db, t, delta.store_values, value_ids, link_of)
    _write_roles(conn, db, t, attrs, delta.roles, link_of)
    _touch_products(conn, t, [link_of[e] for e in delta.changed_entity_ids if e in link_of])
    _write_sync_state(conn, db, t, sync_changes, batch_key=batch_key, batch_time=batch_time, run_id=run_id)
    if journaled is not None and before is not None:
        record(conn, t, attrs, journaled, before, batch_key=batch_key, run_id=run_id)


def _journaled_products(delta: GalleryDelta, state: ChunkState, sync_changes: pd.DataFrame) -> pd.DataFrame:
    """The chunk's products (sku, entity_id, link_id, scope) whose rows the write changes: scope `gallery` for
    those whose gallery, roles or labels change, `sync` for those whose sync state only changes (magento.journal)."""
    changed = set(delta.changed_entity_ids)
    wanted = changed | set(sync_changes["entity_id"].astype(int))
    products = state.products[state.products["error"] == ""]
    products = products[products["entity_id"].astype(int).isin(wanted)]
    products = products[["sku", "entity_id", "link_id"]].drop_duplicates("link_id").reset_index(drop=True)
    return products.assign(scope=["gallery" if e in changed else "sync" for e in products["entity_id"].astype(int)])


def _insert_gallery_rows(
    conn: sa.Connection, db: MagentoDatabase, t: MagentoTables, attrs: AttributeIds, rows: pd.DataFrame
) -> pd.Series:
    """One new media_gallery row per row of `rows` (columns link_id, stored): Magento never shares a row
    between products. Returns the new value_ids aligned with `rows`.

    One multi-row INSERT. Where the database gives it consecutive ids (bulk_sql.settings) they come from the
    driver; otherwise the rows go in (value, link) order and are re-selected above the previous maximum id
    under the writer lock, the n-th new row of a value being the n-th row asked for."""
    mg = t.media_gallery
    if bulk_sql.settings(conn).consecutive_ids:
        ids = bulk_sql.insert_with_ids(conn, mg, _gallery_columns(attrs, rows["stored"]))
        if ids is None:
            raise RuntimeError("media_gallery: the driver did not report the new rows' ids")
        return pd.Series(ids, index=rows.index, dtype="int64")
    order = rows[["link_id", "stored"]].assign(_pos=range(len(rows))).sort_values(["stored", "link_id", "_pos"])
    ceiling = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(mg.c.value_id), 0))).scalar_one())
    bulk_sql.insert(conn, mg, _gallery_columns(attrs, order["stored"]))
    again = pd.DataFrame(
        [tuple(r) for r in conn.execute(
            sa.select(mg.c.value_id, mg.c.value).where(mg.c.value_id > ceiling).order_by(mg.c.value_id))],
        columns=["value_id", "stored"],
    )
    again = again[again["stored"].isin(set(order["stored"]))]
    if len(again) != len(order):
        raise RuntimeError(f"media_gallery: inserted {len(order)} rows, found {len(again)} (a concurrent writer?)")
    again["_n"] = again.groupby("stored").cumcount()
    order["_n"] = order.groupby("stored").cumcount()
    matched = order.merge(again, on=["stored", "_n"], how="left").set_index("_pos")["value_id"]
    return pd.Series(matched.reindex(range(len(rows))).astype("int64").to_numpy(), index=rows.index)


def _gallery_columns(attrs: AttributeIds, stored: pd.Series) -> dict[str, bulk_sql.Column]:
    return {"attribute_id": attrs.media_gallery, "value": stored, "media_type": IMAGE_MEDIA_TYPE, "disabled": 0}


def _split_shared_rows(
    conn: sa.Connection, db: MagentoDatabase, t: MagentoTables, attrs: AttributeIds, items: pd.DataFrame
) -> pd.DataFrame:
    """Give each product of the chunk whose media_gallery row is shared with other products (the PHP
    connector's rows) a row of its own before anything else is written (see `split_rows`)."""
    split = items[items["split"] & (items["value_id"] > 0)]
    if split.empty:
        return items
    pairs = split_rows(conn, db, attrs, split[["link_id", "value_id"]])
    moved = dict(zip(zip(pairs["link_id"].astype(int), pairs["value_id"].astype(int), strict=True),
                     pairs["new_id"].astype(int), strict=True))
    items = items.copy()
    keys = zip(items["link_id"].astype(int), items["value_id"].astype(int), strict=True)
    items["value_id"] = [moved.get(k, k[1]) if s else k[1] for k, s in zip(keys, items["split"], strict=True)]
    return items


def split_rows(conn: sa.Connection, db: MagentoDatabase, attrs: AttributeIds, pairs: pd.DataFrame) -> pd.DataFrame:
    """Move products off shared media_gallery rows: for each (link_id, value_id) a copy of the row is
    inserted, the product's value rows (every store, so its meta rows and labels follow) and its link move to
    the copy, the other products keep the old row, and a row left without products is deleted. Roles name
    paths, not rows, so they stay valid. Returns the pairs with `new_id`."""
    t = db.tables
    mg = t.media_gallery
    pairs = pairs[["link_id", "value_id"]].drop_duplicates().reset_index(drop=True)
    old_ids = sorted(set(pairs["value_id"].astype(int)))
    stored: dict[int, str] = {}
    for part in in_chunks(old_ids):
        stored.update(conn.execute(sa.select(mg.c.value_id, mg.c.value).where(mg.c.value_id.in_(part))).all())
    pairs["stored"] = pairs["value_id"].map(stored).astype(str)
    pairs["new_id"] = _insert_gallery_rows(conn, db, t, attrs, pairs)
    link = t.link
    _bulk_update(conn, db, t.media_gallery_value, [link, "value_id"],
                 pairs.rename(columns={"link_id": link}), {"value_id": "new_id"})
    vte = t.value_to_entity
    for part in in_chunks(_pairs(pairs), 2000):
        conn.execute(sa.delete(vte).where(sa.tuple_(vte.c[link], vte.c.value_id).in_(part)))
    bulk_sql.insert(conn, vte, {"value_id": pairs["new_id"].astype("int64"), link: pairs["link_id"].astype("int64")})
    _delete_unlinked(conn, t, old_ids)
    return pairs


def _delete_unlinked(conn: sa.Connection, t: MagentoTables, value_ids: list[int]) -> None:
    """Delete those media_gallery rows no product is linked to any more (never a row another product uses)."""
    mg, vte = t.media_gallery, t.value_to_entity
    for part in in_chunks(value_ids, 2000):
        linked = sa.select(vte.c.value_id).where(vte.c.value_id == mg.c.value_id).exists()
        conn.execute(sa.delete(mg).where(mg.c.value_id.in_(part), ~linked))


def _delete_value_rows(conn: sa.Connection, t: MagentoTables, record_ids: list[int]) -> None:
    """Delete these value rows (duplicate store-0 rows of an image) with their ETag rows."""
    val, meta = t.media_gallery_value, t.gallery_meta
    for part in in_chunks(sorted(set(record_ids)), 2000):
        conn.execute(sa.delete(meta).where(meta.c.record_id.in_(part)))
        conn.execute(sa.delete(val).where(val.c.record_id.in_(part)))


def _remove(conn: sa.Connection, t: MagentoTables, removed: pd.DataFrame) -> None:
    """Purged/deduped, as Magento's admin removes an image: the product's value rows (all stores), their
    meta rows and its link, then the media_gallery row itself unless another product still uses it."""
    if removed.empty:
        return
    val, vte, meta = t.media_gallery_value, t.value_to_entity, t.gallery_meta
    link = t.link
    for part in in_chunks(_pairs(removed), 2000):
        of_val = sa.tuple_(val.c[link], val.c.value_id).in_(part)
        # Explicit, although the FK cascades: SQLite databases may run without foreign keys.
        conn.execute(sa.delete(meta).where(meta.c.record_id.in_(sa.select(val.c.record_id).where(of_val))))
        conn.execute(sa.delete(val).where(of_val))
        conn.execute(sa.delete(vte).where(sa.tuple_(vte.c[link], vte.c.value_id).in_(part)))
    _delete_unlinked(conn, t, sorted(set(removed["value_id"].astype(int))))


def _insert_images(
    conn: sa.Connection, db: MagentoDatabase, t: MagentoTables, attrs: AttributeIds, rows: pd.DataFrame,
) -> pd.DataFrame:
    """New images: a media_gallery row of the product's own, its link and its store-0 value row.

    Rows that already have a media_gallery row (value_id > 0, no store-0 value row) only get the value row.
    Returns the rows with value_id and record_id filled in.
    """
    if rows.empty:
        return rows.assign(value_id=pd.Series(dtype="int64"))
    rows = rows.copy()
    val, vte = t.media_gallery_value, t.value_to_entity
    fresh = rows["value_id"] == 0
    if fresh.any():
        rows.loc[fresh, "value_id"] = _insert_gallery_rows(conn, db, t, attrs, rows.loc[fresh].assign(
            stored=rows.loc[fresh, "value"]))
    rows["value_id"] = rows["value_id"].astype("int64")
    link = t.link
    pairs = rows[["link_id", "value_id"]].drop_duplicates()
    _upsert(conn, db, vte, {"value_id": pairs["value_id"], link: pairs["link_id"].astype("int64")}, ["value_id", link], [])
    values: dict[str, bulk_sql.Column] = {
        "value_id": rows["value_id"], "store_id": 0, link: rows["link_id"].astype("int64"),
        "label": _empty_as_null(rows["label"]), "position": rows["position"].astype("int64"),
        "disabled": rows["disabled"].astype("int64"),
    }
    if bulk_sql.settings(conn).consecutive_ids:
        ids = bulk_sql.insert_with_ids(conn, val, values)
        if ids is None:
            raise RuntimeError("media_gallery_value: the driver did not report the new rows' ids")
        rows["record_id"] = ids
        return rows
    bulk_sql.insert(conn, val, values)
    keys = list(zip(rows["link_id"].astype(int), rows["value_id"].astype(int), strict=True))
    rows["record_id"] = _new_record_ids(conn, t, keys, store_id=0)
    return rows


def _empty_as_null(labels: pd.Series) -> pd.Series:
    """Labels with empty (and missing) ones as NULL, as `label or None` did."""
    values = labels.astype(object)
    return values.where(values.notna() & (values != ""), None)


def _new_record_ids(conn: sa.Connection, t: MagentoTables, keys: list[tuple[int, int]], *, store_id: int | None) -> list[int]:
    """Record ids of the value rows just inserted for (link, value_id) pairs (the newest row of each pair;
    per store when `store_id` is None, keys then being (link, value_id, store_id))."""
    val, link = t.media_gallery_value, t.link
    found: dict[tuple[int, ...], int] = {}
    for part in in_chunks(list(dict.fromkeys(keys)), 2000):
        if store_id is None:
            match = sa.tuple_(val.c[link], val.c.value_id, val.c.store_id).in_(part)
            query = (sa.select(val.c[link], val.c.value_id, val.c.store_id, sa.func.max(val.c.record_id))
                     .where(match).group_by(val.c[link], val.c.value_id, val.c.store_id))
            found.update({(int(e), int(v), int(s)): int(r) for e, v, s, r in conn.execute(query)})
        else:
            pairs = (
                sa.select(val.c[link], val.c.value_id, sa.func.max(val.c.record_id))
                .where(val.c.store_id == store_id, sa.tuple_(val.c[link], val.c.value_id).in_(part))
                .group_by(val.c[link], val.c.value_id)
            )
            found.update({(int(e), int(v)): int(r) for e, v, r in conn.execute(pairs)})
    return [found[k] for k in keys]


def _write_store_values(
    conn: sa.Connection, db: MagentoDatabase, t: MagentoTables, plan: pd.DataFrame, value_ids: pd.DataFrame,
    link_of: dict[int, int],
) -> None:
    """Store-level value rows the batch sets: insert the missing ones, update the others."""
    if plan.empty:
        return
    plan = _with_value_ids(plan, value_ids)
    plan = plan[plan["value_id"] > 0]
    new = plan[plan["record_id"] == 0]
    bulk_sql.insert(conn, t.media_gallery_value, {
        "value_id": new["value_id"], "store_id": new["store_id"].astype("int64"),
        t.link: new["entity_id"].astype("int64").map(link_of).astype("int64"), "label": new["label"],
        "position": _nullable_ints(new["position"]), "disabled": new["disabled"].astype("int64"),
    })
    old = plan[plan["record_id"] > 0]
    rows = pd.DataFrame({"record_id": old["record_id"].astype(int), "label": old["label"],
                         "position": _nullable_ints(old["position"]), "disabled": old["disabled"].astype(int)})
    _bulk_update(conn, db, t.media_gallery_value, ["record_id"], rows,
                 {"label": "label", "position": "position", "disabled": "disabled"})


def _with_value_ids(plan: pd.DataFrame, value_ids: pd.DataFrame) -> pd.DataFrame:
    """`plan` with the value_id of its (entity_id, value) from `value_ids` (the last one listed), 0 when none."""
    ids = pd.DataFrame({"_e": value_ids["entity_id"].astype("int64").to_numpy(),
                        "_v": value_ids["value"].astype(str).to_numpy(),
                        "value_id": value_ids["value_id"].astype("int64").to_numpy()}).drop_duplicates(["_e", "_v"],
                                                                                                       keep="last")
    keyed = plan.drop(columns=["value_id"], errors="ignore").assign(_e=plan["entity_id"].astype("int64").to_numpy(),
                                                                    _v=plan["value"].astype(str).to_numpy())
    merged = keyed.merge(ids, on=["_e", "_v"], how="left").drop(columns=["_e", "_v"])
    merged["value_id"] = merged["value_id"].fillna(0).astype("int64")
    return merged


def _nullable_ints(values: pd.Series) -> pd.Series:
    """Whole numbers with missing ones as NA (NULL in the database)."""
    return pd.to_numeric(values.astype(object), errors="coerce").round().astype("Int64")


def _write_roles(
    conn: sa.Connection, db: MagentoDatabase, t: MagentoTables, attrs: AttributeIds, plan: pd.DataFrame,
    link_of: dict[int, int],
) -> None:
    """Role and label values: upserted where set, deleted where the plan says None (Magento deletes a
    store-level role of a removed image and an emptied label)."""
    if plan.empty:
        return
    codes = attrs.varchar_codes()
    plan = plan[plan["role"].isin(list(codes))]
    setting = plan[plan["new_value"].notna()]
    columns: dict[str, bulk_sql.Column] = {
        "attribute_id": setting["role"].map(codes).astype("int64"), "store_id": setting["store_id"].astype("int64"),
        t.link: setting["entity_id"].astype("int64").map(link_of).astype("int64"), "value": setting["new_value"],
    }
    _upsert(conn, db, t.varchar, columns, [t.link, "attribute_id", "store_id"], ["value"])
    deleting = plan[plan["new_value"].isna()]
    if len(deleting):
        vc = t.varchar
        keys = [(link_of[int(e)], codes[r], int(s)) for e, r, s in zip(deleting["entity_id"], deleting["role"],
                                                                        deleting["store_id"], strict=True)]
        for part in in_chunks(keys, 2000):
            conn.execute(sa.delete(vc).where(sa.tuple_(vc.c[t.link], vc.c.attribute_id, vc.c.store_id).in_(part)))


def _touch_products(conn: sa.Connection, t: MagentoTables, links: list[int]) -> None:
    """Every product save sets catalog_product_entity.updated_at; so does a gallery or role change here."""
    product = t.product
    for part in in_chunks(sorted(set(links)), 2000):
        conn.execute(sa.update(product).where(product.c[t.link].in_(part)).values(updated_at=sa.func.current_timestamp()))


def _sync_state_changes(delta: GalleryDelta, state: ChunkState, *, batch_key: str, batch_time: datetime | None
                        ) -> pd.DataFrame:
    """The ok SKUs (sku, entity_id, message) whose sync state this batch changes (a re-run of the same batch
    changes none)."""
    results = delta.sku_results
    ok = results[(results["status"] == "ok") & (results["entity_id"].astype(int) > 0)]
    if ok.empty:
        return ok[["sku", "entity_id", "message"]]
    when = to_utc_naive(batch_time)
    ok = ok[["sku", "entity_id", "message"]]
    stored = state.sync_state
    if len(stored):
        stored = stored[["sku", "last_batch_key", "last_batch_time"]].drop_duplicates("sku")
        ok = ok.merge(stored, on="sku", how="left")
        stored_time = pd.to_datetime(ok["last_batch_time"])
        same_time = stored_time.isna() if when is None else (stored_time == pd.Timestamp(when))
        ok = ok[~((ok["last_batch_key"] == batch_key) & same_time)]
    return ok[["sku", "entity_id", "message"]]


def _write_sync_state(conn: sa.Connection, db: MagentoDatabase, t: MagentoTables, ok: pd.DataFrame, *, batch_key: str,
                      batch_time: datetime | None, run_id: str) -> None:
    """Record the batch applied to these SKUs (_sync_state_changes)."""
    if ok.empty:
        return
    when = to_utc_naive(batch_time)
    columns: dict[str, bulk_sql.Column] = {
        "sku": ok["sku"], "entity_id": ok["entity_id"].astype("int64"), "last_batch_key": batch_key,
        "last_batch_time": when, "last_status": ["partial" if message else "ok" for message in ok["message"]],
        "last_run_id": run_id,
    }
    _upsert(conn, db, t.sku_sync_state, columns, ["sku"],
            ["entity_id", "last_batch_key", "last_batch_time", "last_status", "last_run_id"], touch="updated_at")


# ------------------------------------------------------------------------------------------------------
# Plan, chunks, retries, SKU-level fallback


def chunk_delta(conn: sa.Connection, db: MagentoDatabase, attrs: AttributeIds, request: DeltaRequest,
                stores: dict[str, int] | None = None) -> tuple[GalleryDelta, ChunkState]:
    """Read a chunk's state and compute its delta."""
    state = read_chunk_state(conn, db.tables, attrs, request.skus, stores)
    return state_delta(request, state), state


def state_delta(request: DeltaRequest, state: ChunkState) -> GalleryDelta:
    """The delta of a request against the state read for it, with the read's warnings (the one place a delta
    is computed from Magento's tables)."""
    return delta_for(request, state.as_magento_state()).with_warnings(state.warnings)


# SKUs whose state is read and whose delta is computed together when planning (a multiple of the chunk size):
# pandas and the driver cost much per call and little per row, so 20 chunks of 500 planned at once cost little
# more than one. The delta is then cut into the chunks' deltas (core.delta.split_delta).
PLAN_GROUP_SKUS = 10_000


def plan_chunks(db: MagentoDatabase, request: DeltaRequest, chunk_size: int) -> GalleryPlan:
    """The plan of a request (read-only): per chunk of SKUs, the state read, its fingerprint and its delta.

    The state is read and the delta computed per group of chunks (PLAN_GROUP_SKUS), then cut per chunk; each
    chunk gets its own fingerprint, the one its write re-checks. A group's delta is computed in a worker
    thread while the connection fingerprints its chunks and reads the next group: pandas works while the
    database does, every statement still on the one connection (one consistent view of the tables)."""
    attrs = db.attribute_ids()
    size = max(1, int(chunk_size))
    chunks: list[PlannedChunk] = []
    with db.engine.connect() as conn, ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan-delta") as worker:
        if db.is_mysql:
            # Every read and fingerprint of the plan in one snapshot, whatever the server's default isolation:
            # a fingerprint taken after a concurrent commit would vouch for state the delta never saw.
            conn.execution_options(isolation_level="REPEATABLE READ")
        stores = read_stores(conn, db.tables)
        pending: deque[_GroupRead] = deque()
        for group in _plan_groups(request, size):
            pending.append(_read_group(conn, db, attrs, group, size, stores, worker))
            if len(pending) > 1:  # two groups' states at most in memory: the previous group's delta is due
                chunks.extend(_planned_group(conn, db, attrs, pending.popleft(), size, stores))
        while pending:
            chunks.extend(_planned_group(conn, db, attrs, pending.popleft(), size, stores))
    return GalleryPlan(request, chunk_size, tuple(chunks))


def _plan_groups(request: DeltaRequest, size: int) -> list[DeltaRequest]:
    """The request cut into groups of whole chunks, each group with only its own SKUs' rows (as its chunks
    would have them); a request of one chunk as it is (as split_request gives it)."""
    if len(request.skus) <= size:
        return split_request(request, size)
    return cut_request(request, max(size, PLAN_GROUP_SKUS // size * size))


@dataclass
class _GroupRead:
    """A group of chunks as read: its request, per chunk the SKUs, products, sync state and fingerprint, and
    the group's delta (being computed by the worker)."""

    request: DeltaRequest
    members: list[list[str]]
    products: list[pd.DataFrame]
    sync_states: list[pd.DataFrame]
    fingerprints: list[str]
    delta: Future[GalleryDelta]


def _read_group(
    conn: sa.Connection, db: MagentoDatabase, attrs: AttributeIds, group: DeltaRequest, size: int,
    stores: dict[str, int], worker: ThreadPoolExecutor,
) -> _GroupRead:
    """Read the group's state, hand its delta to the worker, then fingerprint each chunk. The chunks' products
    and sync state are cut before: the worker alone reads the state from then on."""
    skus = group.skus
    state = read_chunk_state(conn, db.tables, attrs, skus, stores)
    members = [skus[start:start + size] for start in range(0, len(skus), size)]
    products = _rows_per_chunk(state.products, skus, size)
    sync_states = _rows_per_chunk(state.sync_state, skus, size)
    delta = worker.submit(state_delta, group, state)
    fingerprints = [state_fingerprint(conn, db.tables, attrs, chunk, rows)
                    for chunk, rows in zip(members, products, strict=True)]
    return _GroupRead(group, members, products, sync_states, fingerprints, delta)


def _planned_group(
    conn: sa.Connection, db: MagentoDatabase, attrs: AttributeIds, group: _GroupRead, size: int,
    stores: dict[str, int],
) -> list[PlannedChunk]:
    """The planned chunks of a group: its delta cut per chunk; each chunk read and computed alone instead when
    a row of the delta names no SKU of the group (it could not be placed in a chunk)."""
    delta = group.delta.result()
    parts = split_delta(delta, group.request.skus, size) if len(group.members) > 1 else [replace(delta, request=None)]
    if parts is None:
        return [_plan_chunk(conn, db, attrs, sub, stores) for sub in split_request(group.request, size)]
    return [PlannedChunk(tuple(chunk), part, fingerprint, products, sync_state)
            for chunk, part, fingerprint, products, sync_state in zip(
                group.members, parts, group.fingerprints, group.products, group.sync_states, strict=True)]


def _plan_chunk(
    conn: sa.Connection, db: MagentoDatabase, attrs: AttributeIds, request: DeltaRequest, stores: dict[str, int],
) -> PlannedChunk:
    delta, state = chunk_delta(conn, db, attrs, request, stores)
    fingerprint = state_fingerprint(conn, db.tables, attrs, request.skus, state.products)
    return PlannedChunk.of(request.skus, delta, state, fingerprint)


def _rows_per_chunk(frame: pd.DataFrame, skus: list[str], size: int) -> list[pd.DataFrame]:
    """The rows of `frame` of each chunk of `skus` (by their sku), reindexed; rows of other SKUs dropped."""
    count = (len(skus) + size - 1) // size
    return rows_per_chunk(frame, chunk_numbers(frame["sku"], pd.Index(skus), size), count, reindex=True)


def sync_batch_chunk(
    db: MagentoDatabase, attrs: AttributeIds, request: DeltaRequest, planned: PlannedChunk | None, *,
    run_id: str, stores: dict[str, int], lock: WriterSession, spellings: LegacySpellings | None = None,
    digests: pd.Series | None = None, journal: bool = True,
) -> tuple[GalleryDelta, bool]:
    """One transaction under the writer lock, its products locked first (lock_products): when the chunk's
    fingerprint is still the plan's (one aggregate statement), write the planned delta; otherwise (the
    products changed since the plan, or no plan) read the chunk's state, compute its delta again and write
    that. Returns what was written and whether it was planned again. With `digests`, what was applied per SKU
    is recorded in the same transaction."""
    with lock.transaction() as conn:
        lock_products(conn, db, request.skus)
        if planned is not None and _unchanged(conn, db, attrs, planned):
            delta, state, replanned = replace(planned.delta, request=request), planned.state(), False
        else:
            (delta, state), replanned = chunk_delta(conn, db, attrs, request, stores), True
        write_chunk(conn, db, attrs, delta, state, batch_key=_batch_key(request), batch_time=request.batch_time,
                    run_id=run_id, spellings=spellings, journal=journal)
        if digests is not None:
            record_applied(conn, db, attrs, delta, state.products, digests, batch_key=_batch_key(request))
    return delta, replanned


def lock_products(conn: sa.Connection, db: MagentoDatabase, skus: list[str]) -> None:
    """The transaction's first statement: `SELECT ... FOR UPDATE` on the products carrying the chunk's SKUs
    (every row_id version on Adobe Commerce). A Magento admin save updates its product's row in its own
    transaction, so from here to the commit no admin save of these products can commit: one in progress is
    waited for (up to the lock-wait timeout) and then seen by the reads that follow, which take their snapshot
    after this statement; one that starts later waits for this transaction. The fingerprint check and the
    write therefore see the same rows. SQLite: nothing to lock (its writers are serialised by the file lock)."""
    if not db.is_mysql:
        return
    product = db.tables.product
    for part in in_chunks(skus):
        conn.execute(sa.select(product.c[db.tables.link]).where(product.c.sku.in_(part)).with_for_update()).all()


def _unchanged(conn: sa.Connection, db: MagentoDatabase, attrs: AttributeIds, planned: PlannedChunk) -> bool:
    """Is the chunk's fingerprint still the one its delta was planned from?"""
    return state_fingerprint(conn, db.tables, attrs, planned.skus, planned.products) == planned.fingerprint


def _batch_key(request: DeltaRequest) -> str:
    if request.batch_key is None:
        raise ValueError("a plan to be written needs a batch_key (recorded in the SKUs' sync state)")
    return request.batch_key


def _failed_sku_delta(request: DeltaRequest, sku: str, message: str) -> GalleryDelta:
    """Every row of a SKU that could not be written becomes `error`, with the failure as reason."""
    images = request.images[request.images["sku"] == sku]
    items = pd.DataFrame({c: pd.Series(dtype=object) for c in DELTA_COLUMNS})
    if len(images):
        items = pd.DataFrame(
            {"sku": sku, "value": images["value"].astype(str), "entity_id": 0, "action": "error", "reason": message,
             "label": images["label"].astype(str), "position": images["position"].astype(int),
             "disabled": images["disabled"].astype(bool), "roles": images["roles"].astype(str), "etag": "",
             "stored_etag": "", "value_id": 0, "record_id": 0, "meta_changed": False, "etag_changed": False,
             "split": False, "shared": False}
        )[list(DELTA_COLUMNS)].reset_index(drop=True)
    result: dict[str, object] = {c: 0 for c in SKU_RESULT_COLUMNS}
    result.update({"sku": sku, "status": "error", "message": message})
    return GalleryDelta(items, empty_frame(ROLE_COLUMNS), pd.DataFrame([result])[list(SKU_RESULT_COLUMNS)],
                        empty_frame(REJECTION_COLUMNS), request)


def _first_line(exc: BaseException) -> str:
    return failure_text(exc, 500).splitlines()[0]


def _chunk_failure(skus: list[str], exc: BaseException) -> str:
    shown = ", ".join(skus[:5]) + (" ..." if len(skus) > 5 else "")
    return f"chunk [{shown}] failed, retried one SKU per transaction: {failure_text(exc)}"


@dataclass
class _ChunkWriter:
    """Writes the chunks of one plan under one writer lock and keeps the tallies of the WriteResult."""

    db: MagentoDatabase
    lock: WriterSession
    stores: dict[str, int]
    run_id: str
    attempts: int
    sleep: Callable[[float], None]
    digests: pd.Series | None = None
    journal: bool = True
    attrs: AttributeIds = field(init=False)
    spellings: LegacySpellings = field(init=False)
    written: list[GalleryDelta] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retries: int = 0
    replanned: int = 0

    def __post_init__(self) -> None:
        self.attrs = self.db.attribute_ids()
        self.spellings = LegacySpellings(self.db)

    def chunk(self, request: DeltaRequest, planned: PlannedChunk) -> None:
        """The chunk in one transaction; on a permanent error, each of its SKUs in a transaction of its own."""
        try:
            delta, replanned = self._transaction(request, planned)
        except Exception as exc:  # noqa: BLE001 - permanent for the chunk: isolate the bad SKU(s)
            if is_retriable(exc):
                raise  # still failing after the retries (database down, lock lost...): fail the run
            self.errors.append(_chunk_failure(request.skus, exc))
            for sku in request.skus:
                self._single_sku(request, sku)
            return
        self.written.append(delta)
        self.replanned += int(replanned)

    def _single_sku(self, request: DeltaRequest, sku: str) -> None:
        """One SKU of a failed chunk, planned again under the lock; its failure becomes the SKU's error."""
        part = request.for_skus([sku])
        try:
            self.written.append(self._transaction(part, None)[0])
        except Exception as exc:  # noqa: BLE001 - reported as the SKU's error, others proceed
            self.errors.append(f"SKU {sku!r}: {_first_line(exc)}")
            self.written.append(_failed_sku_delta(part, sku, _first_line(exc)))

    def _transaction(self, request: DeltaRequest, planned: PlannedChunk | None) -> tuple[GalleryDelta, bool]:
        """sync_batch_chunk, retried on retriable errors (the retries counted)."""
        result, tries = retry_call(
            lambda: sync_batch_chunk(self.db, self.attrs, request, planned, run_id=self.run_id, stores=self.stores,
                                     lock=self.lock, spellings=self.spellings, digests=self.digests,
                                     journal=self.journal),
            backoff_delays(self.attempts), sleep=self.sleep,
        )
        self.retries += tries
        return result


def _advance_unchanged(conn: sa.Connection, db: MagentoDatabase, plan: GalleryPlan, *, run_id: str,
                       journal: bool) -> None:
    """The sync state of the SKUs the plan left out as unchanged names this batch (gallery_digest); with
    `journal`, their sync-state rows' before-images go into the undo journal first, so a revert restores them."""
    skus = list(plan.advance_skus)
    batch_key = _batch_key(plan.request)
    products = pd.DataFrame(columns=["sku", "entity_id", "link_id", "scope"])
    if journal:
        t = db.tables
        rows = [tuple(r) for part in in_chunks(skus) for r in conn.execute(
            sa.select(t.product.c.sku, t.product.c.entity_id, t.product.c[t.link]).where(t.product.c.sku.in_(part)))]
        products = pd.DataFrame(rows, columns=["sku", "entity_id", "link_id"]).drop_duplicates("link_id")
        products = products.assign(scope="sync").reset_index(drop=True)
    attrs = db.attribute_ids()
    before = read_before(conn, db.tables, attrs, products) if len(products) else None
    advance_unchanged(conn, db.tables, skus, batch_key=batch_key, batch_time=plan.request.batch_time, run_id=run_id)
    if before is not None:
        record(conn, db.tables, attrs, products, before, batch_key=batch_key, run_id=run_id)


def sync_request(
    db: MagentoDatabase,
    plan: GalleryPlan,
    *,
    run_id: str = "",
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    lock_timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
    on_written: Callable[[GalleryDelta], None] | None = None,
    journal: bool = True,
) -> WriteResult:
    """Write a plan chunk by chunk under the writer lock (see sync_batch_chunk); a chunk that fails for good
    falls back to one transaction per SKU. `progress` gets one line per chunk (x of y SKUs, rate, ETA) when
    there is more than one chunk; `on_written` each delta written, once its transaction is committed (the
    post-write check of a chunk can then run while the next one is written). `journal`: the undo journal
    written with each chunk (off only to measure its cost)."""
    _batch_key(plan.request)
    started = time.perf_counter()
    total_before, writes_before = db.statements()
    parts = plan.parts()
    total_skus = sum(len(chunk.skus) for _, chunk in parts)
    with db.writer_lock(lock_timeout) as lock:
        with db.engine.connect() as conn:
            stores = read_stores(conn, db.tables)
        if plan.advance_skus:
            with lock.transaction() as conn:
                _advance_unchanged(conn, db, plan, run_id=run_id, journal=journal)
        writer = _ChunkWriter(db, lock, stores, run_id, attempts, sleep, plan.digests, journal)
        done_skus = 0
        for number, (request, planned) in enumerate(parts, start=1):
            before = len(writer.written)
            writer.chunk(request, planned)
            if on_written is not None:
                for delta in writer.written[before:]:
                    on_written(delta)
            done_skus += len(planned.skus)
            if progress is not None and len(parts) > 1:
                progress(progress_line(done_skus, total_skus, time.perf_counter() - started, number, len(parts)))
    total_after, writes_after = db.statements()
    return WriteResult(
        delta=concat_deltas(writer.written, plan.request), statements=total_after - total_before,
        write_statements=writes_after - writes_before, errors=writer.errors, chunks=len(parts),
        replanned_chunks=writer.replanned, retries=writer.retries, seconds=time.perf_counter() - started,
    )
