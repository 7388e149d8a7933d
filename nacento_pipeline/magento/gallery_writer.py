"""Set-based writer of a gallery plan: per chunk of SKUs one transaction and a constant number of statements.

Under the writer lock each chunk's fingerprint (one aggregate statement over the rows its delta depends on) is
compared with the one the plan was computed from: equal, the planned delta is written as it is; different
(the products changed between plan and write), that chunk's state is read again and its delta recomputed. Either way what is written
(and reported) is the truth. The rows look as Magento's admin and import write them: one media_gallery row
per product and path, removal of the product's own row with its roles, store-level rows, role labels,
updated_at. Upserts only where a real unique key exists (varchar, meta, value_to_entity, sync state);
media_gallery and media_gallery_value rows are inserted, then re-selected above the previous maximum id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import TypeVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from nacento_pipeline.core.delta import (
    DeltaRequest,
    GalleryDelta,
    concat_deltas,
    delta_for,
    split_request,
    summarize,
    to_utc_naive,
)
from nacento_pipeline.core.frames import (
    DELTA_COLUMNS,
    REJECTION_COLUMNS,
    ROLE_COLUMNS,
    SKU_RESULT_COLUMNS,
    empty_frame,
)
from nacento_pipeline.core.progress import progress_line
from nacento_pipeline.core.retry import DEFAULT_ATTEMPTS, backoff_delays, is_retriable
from nacento_pipeline.magento.catalog import in_chunks
from nacento_pipeline.magento.database import AttributeIds, MagentoDatabase, WriterSession
from nacento_pipeline.magento.gallery_reader import (
    IMAGE_MEDIA_TYPE,
    ChunkState,
    read_chunk_state,
    read_stores,
    state_fingerprint,
)
from nacento_pipeline.magento.schema import MagentoTables

T = TypeVar("T")
# Rows per bulk UPDATE: 4 bound parameters a row stays below SQLite's 32766 variables.
BULK_UPDATE_ROWS = 5000


@dataclass
class WriteResult:
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

    @property
    def items(self) -> pd.DataFrame:
        return self.delta.items

    @property
    def sku_results(self) -> pd.DataFrame:
        return self.delta.sku_results

    @property
    def changed_entity_ids(self) -> list[int]:
        return self.delta.changed_entity_ids

    def counts(self) -> dict[str, int]:
        return self.delta.counts()

    def totals(self) -> dict[str, int]:
        return summarize(self.delta.sku_results)

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
class GalleryPlan:
    """A batch's delta, planned chunk by chunk (read-only), ready to be written: the request, the chunk size it
    was cut with and, per chunk, the delta and the fingerprint of the state it was computed from. Picklable.

    Reads like a GalleryDelta (counts, items, roles, sku_results, warnings, totals, unknown_skus, mode)
    through `delta`, the chunks' deltas joined once.
    """

    request: DeltaRequest
    chunk_size: int
    chunks: tuple[PlannedChunk, ...]

    @cached_property
    def delta(self) -> GalleryDelta:
        return concat_deltas([c.delta for c in self.chunks], self.request)

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the joined delta (rebuilt on demand): the chunks hold the same rows."""
        return {k: v for k, v in self.__dict__.items() if k != "delta"}

    @property
    def mode(self) -> str:
        return self.request.mode

    @property
    def items(self) -> pd.DataFrame:
        return self.delta.items

    @property
    def roles(self) -> pd.DataFrame:
        return self.delta.roles

    @property
    def sku_results(self) -> pd.DataFrame:
        return self.delta.sku_results

    @property
    def warnings(self) -> pd.DataFrame:
        return self.delta.warnings

    @property
    def changed_entity_ids(self) -> list[int]:
        return self.delta.changed_entity_ids

    @property
    def unknown_skus(self) -> tuple[str, ...]:
        return self.delta.unknown_skus

    def counts(self) -> dict[str, int]:
        return self.delta.counts()

    def totals(self) -> dict[str, int]:
        return self.delta.totals()

    def parts(self) -> list[tuple[DeltaRequest, PlannedChunk]]:
        """Each chunk's request (the request cut again with the plan's chunk size) with its planned chunk."""
        requests = split_request(self.request, self.chunk_size)
        for sub, chunk in zip(requests, self.chunks, strict=True):
            if tuple(sub.skus) != chunk.skus:
                raise ValueError("plan and request disagree on the chunks' SKUs")
        return list(zip(requests, self.chunks, strict=True))


# ------------------------------------------------------------------------------------------------------
# Statements


def _insert_for(db: MagentoDatabase, table: sa.Table):  # noqa: ANN202 - dialect-specific Insert
    if db.is_mysql:
        return mysql.insert(table)
    if db.dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _upsert(
    conn: sa.Connection, db: MagentoDatabase, table: sa.Table, rows: list[dict], keys: list[str], update: list[str],
    touch: str | None = None,
) -> None:
    """INSERT ... ON DUPLICATE KEY UPDATE / ON CONFLICT DO UPDATE on a real unique key (one executemany)."""
    if not rows:
        return
    stmt = _insert_for(db, table)
    if db.is_mysql:
        values = {c: stmt.inserted[c] for c in update} or {keys[0]: table.c[keys[0]]}
        if touch:
            values[touch] = sa.func.current_timestamp()
        stmt = stmt.on_duplicate_key_update(values)
    else:
        values = {c: stmt.excluded[c] for c in update}
        if touch:
            values[touch] = sa.func.current_timestamp()
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_=values) if values else stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, rows)


def _bulk_update(
    conn: sa.Connection, db: MagentoDatabase, table: sa.Table, keys: list[str], rows: pd.DataFrame,
    columns: dict[str, str],
) -> None:
    """Set `table.<target> = rows.<source>` (columns: target -> source) for the rows matched on `keys`.

    One statement per BULK_UPDATE_ROWS rows: MySQL/MariaDB `UPDATE t JOIN (SELECT .. UNION ALL ..) v`,
    SQLite `UPDATE t SET .. FROM (VALUES ..) v`; other dialects one UPDATE per row. (A CASE on thousands of
    keys is quadratic on MySQL; the join is not.)
    """
    if rows.empty:
        return
    quote = db.engine.dialect.identifier_preparer.quote
    names = [*keys, *columns.values()]
    aliases = [f"k{j}" for j in range(len(keys))] + [f"c{j}" for j in range(len(columns))]
    target = quote(table.name)
    for start in range(0, len(rows), BULK_UPDATE_ROWS):
        part = rows.iloc[start:start + BULK_UPDATE_ROWS]
        params: dict[str, object] = {}
        tuples = []
        for i, values in enumerate(zip(*(part[n].tolist() for n in names), strict=True)):
            marks = [f"p{i}_{j}" for j in range(len(names))]
            params.update(zip(marks, (None if pd.isna(x) else x for x in values), strict=True))
            tuples.append(marks)
        if db.is_mysql:
            first = ", ".join(f":{k} AS {a}" for k, a in zip(tuples[0], aliases, strict=True))
            rest = "".join(" UNION ALL SELECT " + ", ".join(f":{k}" for k in ks) for ks in tuples[1:])
            on = " AND ".join(f"t.{quote(k)} = v.k{j}" for j, k in enumerate(keys))
            sets = ", ".join(f"t.{quote(c)} = v.c{j}" for j, c in enumerate(columns))
            sql = f"UPDATE {target} AS t JOIN (SELECT {first}{rest}) AS v ON {on} SET {sets}"
        elif db.dialect == "sqlite":
            values_sql = ", ".join("(" + ", ".join(f":{k}" for k in ks) + ")" for ks in tuples)
            on = " AND ".join(f"{target}.{quote(k)} = v.column{j + 1}" for j, k in enumerate(keys))
            sets = ", ".join(f"{quote(c)} = v.column{len(keys) + j + 1}" for j, c in enumerate(columns))
            sql = f"UPDATE {target} SET {sets} FROM (VALUES {values_sql}) AS v WHERE {on}"
        else:
            for marks in tuples:
                row = [params[m] for m in marks]
                where = [table.c[k] == row[j] for j, k in enumerate(keys)]
                changes = {c: row[len(keys) + j] for j, c in enumerate(columns)}
                conn.execute(sa.update(table).where(*where).values(changes))
            continue
        conn.execute(sa.text(sql), params)


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
) -> None:
    """Execute one chunk's delta inside the caller's transaction (a constant number of statements)."""
    t = db.tables
    link_of = dict(zip(state.products["entity_id"].astype(int), state.products["link_id"].astype(int), strict=True))
    items = delta.items.copy()
    items["link_id"] = items["entity_id"].astype(int).map(link_of).fillna(0).astype("int64")
    items = _split_shared_rows(conn, db, t, attrs, items)
    _remove(conn, t, items[items["action"].isin(("purged", "deduped"))])
    writes = items[items["action"].isin(("inserted", "updated_value", "updated_meta"))]
    new_rows = _insert_images(conn, db, t, attrs, writes[(writes["action"] == "inserted") | (writes["record_id"] == 0)])
    # ETags: every new value row, and every existing row whose content changed.
    meta = pd.concat(
        [new_rows[["record_id", "etag"]], writes.loc[(writes["record_id"] > 0) & writes["etag_changed"], ["record_id", "etag"]]]
    )
    _upsert(
        conn, db, t.gallery_meta,
        [{"record_id": int(r), "s3_etag": e} for r, e in zip(meta["record_id"], meta["etag"], strict=True)],
        ["record_id"], ["s3_etag"], touch="updated_at",
    )
    changed = writes[(writes["record_id"] > 0) & writes["meta_changed"]]
    rows = pd.DataFrame({"record_id": changed["record_id"].astype(int), "label": _nullable_labels(changed["label"]),
                         "position": changed["position"].astype(int), "disabled": changed["disabled"].astype(int)})
    _bulk_update(conn, db, t.media_gallery_value, ["record_id"], rows,
                 {"label": "label", "position": "position", "disabled": "disabled"})
    value_ids = pd.concat([writes.loc[writes["value_id"] > 0, ["entity_id", "value", "value_id"]],
                           new_rows[["entity_id", "value", "value_id"]]])
    _write_store_values(conn, db, t, delta.store_values, value_ids, link_of)
    _write_roles(conn, db, t, attrs, delta.roles, link_of)
    _touch_products(conn, t, [link_of[e] for e in delta.changed_entity_ids if e in link_of])
    _write_sync_state(conn, db, t, delta, state, batch_key=batch_key, batch_time=batch_time, run_id=run_id)


def _nullable_labels(labels: pd.Series) -> pd.Series:
    """Magento stores an empty label as NULL."""
    text = labels.astype(str)
    return text.astype(object).where(text != "", None)


def _insert_gallery_rows(
    conn: sa.Connection, db: MagentoDatabase, t: MagentoTables, attrs: AttributeIds, rows: pd.DataFrame
) -> pd.Series:
    """One new media_gallery row per row of `rows` (columns link_id, stored): Magento never shares a row
    between products. Returns the new value_ids aligned with `rows`.

    Inserted in (value, link) order in one statement and re-selected above the previous maximum id under the
    writer lock; the n-th new row of a value is the n-th row asked for (ids grow in insertion order, they are
    not assumed consecutive)."""
    mg = t.media_gallery
    order = rows[["link_id", "stored"]].assign(_pos=range(len(rows))).sort_values(["stored", "link_id", "_pos"])
    ceiling = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(mg.c.value_id), 0))).scalar_one())
    conn.execute(
        mg.insert(),
        [{"attribute_id": attrs.media_gallery, "value": v, "media_type": IMAGE_MEDIA_TYPE, "disabled": 0}
         for v in order["stored"]],
    )
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
    conn.execute(vte.insert(), [{"value_id": int(n), link: int(e)} for e, n in zip(pairs["link_id"], pairs["new_id"],
                                                                                     strict=True)])
    _delete_unlinked(conn, t, old_ids)
    return pairs


def _delete_unlinked(conn: sa.Connection, t: MagentoTables, value_ids: list[int]) -> None:
    """Delete those media_gallery rows no product is linked to any more (never a row another product uses)."""
    mg, vte = t.media_gallery, t.value_to_entity
    for part in in_chunks(value_ids, 2000):
        linked = sa.select(vte.c.value_id).where(vte.c.value_id == mg.c.value_id).exists()
        conn.execute(sa.delete(mg).where(mg.c.value_id.in_(part), ~linked))


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
    keys = list(zip(rows["link_id"].astype(int), rows["value_id"].astype(int), strict=True))
    link = t.link
    _upsert(conn, db, vte, [{"value_id": v, link: e} for e, v in dict.fromkeys(keys)], ["value_id", link], [])
    conn.execute(
        val.insert(),
        [
            {"value_id": v, "store_id": 0, link: e, "label": label or None, "position": int(pos), "disabled": int(dis)}
            for (e, v), label, pos, dis in zip(keys, rows["label"], rows["position"], rows["disabled"], strict=True)
        ],
    )
    rows["record_id"] = _new_record_ids(conn, t, keys, store_id=0)
    return rows


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
    ids = {(int(e), str(v)): int(i) for e, v, i in zip(value_ids["entity_id"], value_ids["value"], value_ids["value_id"],
                                                          strict=True)}
    plan = plan.assign(value_id=[ids.get((int(e), str(v)), 0) for e, v in zip(plan["entity_id"], plan["value"],
                                                                                 strict=True)])
    plan = plan[plan["value_id"] > 0]
    link = t.link
    new = plan[plan["record_id"] == 0]
    if len(new):
        conn.execute(t.media_gallery_value.insert(), [
            {"value_id": int(v), "store_id": int(s), link: link_of[int(e)], "label": label,
             "position": None if pd.isna(pos) else int(pos), "disabled": int(dis)}
            for e, v, s, label, pos, dis in zip(new["entity_id"], new["value_id"], new["store_id"], new["label"],
                                                 new["position"], new["disabled"], strict=True)
        ])
    old = plan[plan["record_id"] > 0]
    rows = pd.DataFrame({"record_id": old["record_id"].astype(int), "label": old["label"],
                         "position": old["position"].astype(object), "disabled": old["disabled"].astype(int)})
    _bulk_update(conn, db, t.media_gallery_value, ["record_id"], rows,
                 {"label": "label", "position": "position", "disabled": "disabled"})


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
    rows = [
        {"attribute_id": codes[role], "store_id": int(store), t.link: link_of[int(entity)], "value": value}
        for entity, role, store, value in zip(setting["entity_id"], setting["role"], setting["store_id"],
                                              setting["new_value"], strict=True)
    ]
    _upsert(conn, db, t.varchar, rows, [t.link, "attribute_id", "store_id"], ["value"])
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


def _write_sync_state(
    conn: sa.Connection, db: MagentoDatabase, t: MagentoTables, delta: GalleryDelta, state: ChunkState, *,
    batch_key: str, batch_time: datetime | None, run_id: str,
) -> None:
    """Record the batch applied to each ok SKU, only when it differs (a re-run of the same batch writes nothing)."""
    results = delta.sku_results
    ok = results[(results["status"] == "ok") & (results["entity_id"].astype(int) > 0)]
    if ok.empty:
        return
    when = to_utc_naive(batch_time)
    ok = ok[["sku", "entity_id", "message"]]
    stored = state.sync_state
    if len(stored):
        stored = stored[["sku", "last_batch_key", "last_batch_time"]].drop_duplicates("sku")
        ok = ok.merge(stored, on="sku", how="left")
        stored_time = pd.to_datetime(ok["last_batch_time"])
        same_time = stored_time.isna() if when is None else (stored_time == pd.Timestamp(when))
        ok = ok[~((ok["last_batch_key"] == batch_key) & same_time)]
    rows = [
        {"sku": sku, "entity_id": int(entity_id), "last_batch_key": batch_key, "last_batch_time": when,
         "last_status": "partial" if message else "ok", "last_run_id": run_id}
        for sku, entity_id, message in zip(ok["sku"], ok["entity_id"], ok["message"], strict=True)
    ]
    _upsert(conn, db, t.sku_sync_state, rows, ["sku"],
            ["entity_id", "last_batch_key", "last_batch_time", "last_status", "last_run_id"], touch="updated_at")


# ------------------------------------------------------------------------------------------------------
# Plan, chunks, retries, SKU-level fallback


def chunk_delta(conn: sa.Connection, db: MagentoDatabase, attrs: AttributeIds, request: DeltaRequest,
                stores: dict[str, int] | None = None) -> tuple[GalleryDelta, ChunkState]:
    """Read a chunk's state and compute its delta (the one place a delta is computed from Magento's tables)."""
    state = read_chunk_state(conn, db.tables, attrs, request.skus, stores)
    delta = delta_for(request, state.as_magento_state()).with_warnings(state.warnings)
    return delta, state


def plan_chunks(db: MagentoDatabase, request: DeltaRequest, chunk_size: int) -> GalleryPlan:
    """The plan of a request (read-only): per chunk of SKUs, the state read, its fingerprint and its delta."""
    attrs = db.attribute_ids()
    chunks = []
    with db.engine.connect() as conn:
        stores = read_stores(conn, db.tables)
        for sub in split_request(request, chunk_size):
            delta, state = chunk_delta(conn, db, attrs, sub, stores)
            fingerprint = state_fingerprint(conn, db.tables, attrs, sub.skus, state.products)
            chunks.append(PlannedChunk.of(sub.skus, delta, state, fingerprint))
    return GalleryPlan(request, chunk_size, tuple(chunks))


def sync_batch_chunk(
    db: MagentoDatabase, attrs: AttributeIds, request: DeltaRequest, planned: PlannedChunk | None, *,
    run_id: str, stores: dict[str, int], lock: WriterSession,
) -> tuple[GalleryDelta, bool]:
    """One transaction under the writer lock: when the chunk's fingerprint is still the plan's (one aggregate
    statement), write the planned delta; otherwise (the products changed since the plan, or no plan) read the
    chunk's state, compute its delta again and write that. Returns what was written and whether it was
    planned again."""
    with lock.transaction() as conn:
        if planned is not None and _unchanged(conn, db, attrs, planned):
            delta, state, replanned = replace(planned.delta, request=request), planned.state(), False
        else:
            (delta, state), replanned = chunk_delta(conn, db, attrs, request, stores), True
        write_chunk(conn, db, attrs, delta, state, batch_key=_batch_key(request), batch_time=request.batch_time,
                    run_id=run_id)
    return delta, replanned


def _unchanged(conn: sa.Connection, db: MagentoDatabase, attrs: AttributeIds, planned: PlannedChunk) -> bool:
    """Is the chunk's fingerprint still the one its delta was planned from?"""
    return state_fingerprint(conn, db.tables, attrs, planned.skus, planned.products) == planned.fingerprint


def _batch_key(request: DeltaRequest) -> str:
    if request.batch_key is None:
        raise ValueError("a plan to be written needs a batch_key (recorded in the SKUs' sync state)")
    return request.batch_key


def _with_retry(work: Callable[[], T], attempts: int, sleep: Callable[[float], None]) -> tuple[T, int]:
    delays = backoff_delays(attempts)
    for attempt in range(attempts):
        try:
            return work(), attempt
        except Exception as exc:
            if attempt < attempts - 1 and is_retriable(exc):
                sleep(delays[attempt])
                continue
            raise
    raise AssertionError("unreachable")  # pragma: no cover


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
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def _chunk_failure(skus: list[str], exc: BaseException) -> str:
    shown = ", ".join(skus[:5]) + (" ..." if len(skus) > 5 else "")
    return f"chunk [{shown}] failed, retried one SKU per transaction: {type(exc).__name__}: {exc}"


@dataclass
class _ChunkWriter:
    """Writes the chunks of one plan under one writer lock and keeps the tallies of the WriteResult."""

    db: MagentoDatabase
    lock: WriterSession
    stores: dict[str, int]
    run_id: str
    attempts: int
    sleep: Callable[[float], None]
    attrs: AttributeIds = field(init=False)
    written: list[GalleryDelta] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retries: int = 0
    replanned: int = 0

    def __post_init__(self) -> None:
        self.attrs = self.db.attribute_ids()

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
        result, tries = _with_retry(
            lambda: sync_batch_chunk(self.db, self.attrs, request, planned, run_id=self.run_id, stores=self.stores,
                                     lock=self.lock),
            self.attempts, self.sleep,
        )
        self.retries += tries
        return result


def sync_request(
    db: MagentoDatabase,
    plan: GalleryPlan,
    *,
    run_id: str = "",
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    lock_timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> WriteResult:
    """Write a plan chunk by chunk under the writer lock (see sync_batch_chunk); a chunk that fails for good
    falls back to one transaction per SKU. `progress` gets one line per chunk (x of y SKUs, rate, ETA) when
    there is more than one chunk."""
    _batch_key(plan.request)
    started = time.perf_counter()
    total_before, writes_before = db.statements()
    parts = plan.parts()
    total_skus = sum(len(chunk.skus) for _, chunk in parts)
    with db.writer_lock(lock_timeout) as lock:
        with db.engine.connect() as conn:
            stores = read_stores(conn, db.tables)
        writer = _ChunkWriter(db, lock, stores, run_id, attempts, sleep)
        done_skus = 0
        for number, (request, planned) in enumerate(parts, start=1):
            writer.chunk(request, planned)
            done_skus += len(planned.skus)
            if progress is not None and len(parts) > 1:
                progress(progress_line(done_skus, total_skus, time.perf_counter() - started, number, len(parts)))
    total_after, writes_after = db.statements()
    return WriteResult(
        delta=concat_deltas(writer.written, plan.request), statements=total_after - total_before,
        write_statements=writes_after - writes_before, errors=writer.errors, chunks=len(parts),
        replanned_chunks=writer.replanned, retries=writer.retries, seconds=time.perf_counter() - started,
    )
