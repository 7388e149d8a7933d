"""The set-based statements of a gallery write, built from column arrays by bulk_sql.

Gallery rows inserted, split, removed, value rows and upserts: a constant number of statements per chunk.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.magento import bulk_sql
from nacento_pipeline.magento.catalog import in_chunks
from nacento_pipeline.magento.database import AttributeIds, MagentoDatabase
from nacento_pipeline.magento.gallery.reader import IMAGE_MEDIA_TYPE
from nacento_pipeline.magento.schema import MagentoTables


def upsert(
    conn: sa.Connection,
    db: MagentoDatabase,
    table: sa.Table,
    rows: list[dict] | pd.DataFrame | dict[str, bulk_sql.Column],
    keys: list[str],
    update: list[str],
    touch: str | None = None,
) -> None:
    """INSERT ... ON DUPLICATE KEY UPDATE / ON CONFLICT DO UPDATE on a real unique key, from column arrays.

    The arrays are a frame, a dict of columns, or row dicts; multi-row statements (bulk_sql).
    """
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


def bulk_update(
    conn: sa.Connection,
    db: MagentoDatabase,
    table: sa.Table,
    keys: list[str],
    rows: pd.DataFrame,
    columns: dict[str, str],
) -> None:
    """Set `table.<target> = rows.<source>` (columns: target -> source) for the rows matched on `keys`.

    One joined UPDATE per statement-size part (bulk_sql.update).
    """
    if rows.empty:
        return
    bulk_sql.update(
        conn, table, {k: rows[k] for k in keys}, {target: rows[source] for target, source in columns.items()}
    )


def _pairs(frame: pd.DataFrame) -> list[tuple[int, int]]:
    unique = frame[["link_id", "value_id"]].drop_duplicates()
    return list(
        zip(unique["link_id"].astype(int).tolist(), unique["value_id"].astype(int).tolist(), strict=True)
    )


def _insert_gallery_rows(
    conn: sa.Connection, db: MagentoDatabase, t: MagentoTables, attrs: AttributeIds, rows: pd.DataFrame
) -> pd.Series:
    """One new media_gallery row per row of `rows` (columns link_id, stored); returns the new value_ids.

    Magento never shares a row between products. The value_ids returned are aligned with `rows`.

    One multi-row INSERT. Where the database gives it consecutive ids (bulk_sql.settings) they come from the
    driver; otherwise the rows go in (value, link) order and are re-selected above the previous maximum id
    under the writer lock, the n-th new row of a value being the n-th row asked for.
    """
    mg = t.media_gallery
    if bulk_sql.settings(conn).consecutive_ids:
        ids = bulk_sql.insert_with_ids(conn, mg, _gallery_columns(attrs, rows["stored"]))
        if ids is None:
            raise RuntimeError("media_gallery: the driver did not report the new rows' ids")
        return pd.Series(ids, index=rows.index, dtype="int64")
    order = (
        rows[["link_id", "stored"]].assign(_pos=range(len(rows))).sort_values(["stored", "link_id", "_pos"])
    )
    ceiling = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(mg.c.value_id), 0))).scalar_one())
    bulk_sql.insert(conn, mg, _gallery_columns(attrs, order["stored"]))
    again = pd.DataFrame(
        [
            tuple(r)
            for r in conn.execute(
                sa.select(mg.c.value_id, mg.c.value).where(mg.c.value_id > ceiling).order_by(mg.c.value_id)
            )
        ],
        columns=["value_id", "stored"],
    )
    again = again[again["stored"].isin(set(order["stored"]))]
    if len(again) != len(order):
        raise RuntimeError(
            f"media_gallery: inserted {len(order)} rows, found {len(again)} (a concurrent writer?)"
        )
    again["_n"] = again.groupby("stored").cumcount()
    order["_n"] = order.groupby("stored").cumcount()
    matched = order.merge(again, on=["stored", "_n"], how="left").set_index("_pos")["value_id"]
    return pd.Series(matched.reindex(range(len(rows))).astype("int64").to_numpy(), index=rows.index)


def _gallery_columns(attrs: AttributeIds, stored: pd.Series) -> dict[str, bulk_sql.Column]:
    return {
        "attribute_id": attrs.media_gallery,
        "value": stored,
        "media_type": IMAGE_MEDIA_TYPE,
        "disabled": 0,
    }


def split_shared_rows(
    conn: sa.Connection, db: MagentoDatabase, t: MagentoTables, attrs: AttributeIds, items: pd.DataFrame
) -> pd.DataFrame:
    """Give each product of the chunk whose media_gallery row is shared a row of its own (see `split_rows`).

    Shared with other products: the PHP connector's rows. Done before anything else is written.
    """
    split = items[items["split"] & (items["value_id"] > 0)]
    if split.empty:
        return items
    pairs = split_rows(conn, db, attrs, split[["link_id", "value_id"]])
    moved = dict(
        zip(
            zip(pairs["link_id"].astype(int), pairs["value_id"].astype(int), strict=True),
            pairs["new_id"].astype(int),
            strict=True,
        )
    )
    items = items.copy()
    keys = zip(items["link_id"].astype(int), items["value_id"].astype(int), strict=True)
    items["value_id"] = [moved.get(k, k[1]) if s else k[1] for k, s in zip(keys, items["split"], strict=True)]
    return items


def split_rows(
    conn: sa.Connection, db: MagentoDatabase, attrs: AttributeIds, pairs: pd.DataFrame
) -> pd.DataFrame:
    """Move products off shared media_gallery rows; returns the pairs with `new_id`.

    For each (link_id, value_id) a copy of the row is inserted, the product's value rows (every store, so its
    meta rows and labels follow) and its link move to the copy, the other products keep the old row, and a row
    left without products is deleted. Roles name paths, not rows, so they stay valid.
    """
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
    bulk_update(
        conn,
        db,
        t.media_gallery_value,
        [link, "value_id"],
        pairs.rename(columns={"link_id": link}),
        {"value_id": "new_id"},
    )
    vte = t.value_to_entity
    for part in in_chunks(_pairs(pairs), 2000):
        conn.execute(sa.delete(vte).where(sa.tuple_(vte.c[link], vte.c.value_id).in_(part)))
    bulk_sql.insert(
        conn, vte, {"value_id": pairs["new_id"].astype("int64"), link: pairs["link_id"].astype("int64")}
    )
    _delete_unlinked(conn, t, old_ids)
    return pairs


def _delete_unlinked(conn: sa.Connection, t: MagentoTables, value_ids: list[int]) -> None:
    """Delete those media_gallery rows no product is linked to any more (never a row another product uses)."""
    mg, vte = t.media_gallery, t.value_to_entity
    for part in in_chunks(value_ids, 2000):
        linked = sa.select(vte.c.value_id).where(vte.c.value_id == mg.c.value_id).exists()
        conn.execute(sa.delete(mg).where(mg.c.value_id.in_(part), ~linked))


def delete_value_rows(conn: sa.Connection, t: MagentoTables, record_ids: list[int]) -> None:
    """Delete these value rows (duplicate store-0 rows of an image) with their ETag rows."""
    val, meta = t.media_gallery_value, t.gallery_meta
    for part in in_chunks(sorted(set(record_ids)), 2000):
        conn.execute(sa.delete(meta).where(meta.c.record_id.in_(part)))
        conn.execute(sa.delete(val).where(val.c.record_id.in_(part)))


def remove_rows(conn: sa.Connection, t: MagentoTables, removed: pd.DataFrame) -> None:
    """Remove purged/deduped images the way Magento's admin removes an image.

    The product's value rows (all stores), their meta rows and its link, then the media_gallery row itself
    unless another product still uses it.
    """
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


def insert_images(
    conn: sa.Connection,
    db: MagentoDatabase,
    t: MagentoTables,
    attrs: AttributeIds,
    rows: pd.DataFrame,
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
        rows.loc[fresh, "value_id"] = _insert_gallery_rows(
            conn, db, t, attrs, rows.loc[fresh].assign(stored=rows.loc[fresh, "value"])
        )
    rows["value_id"] = rows["value_id"].astype("int64")
    link = t.link
    pairs = rows[["link_id", "value_id"]].drop_duplicates()
    upsert(
        conn,
        db,
        vte,
        {"value_id": pairs["value_id"], link: pairs["link_id"].astype("int64")},
        ["value_id", link],
        [],
    )
    values: dict[str, bulk_sql.Column] = {
        "value_id": rows["value_id"],
        "store_id": 0,
        link: rows["link_id"].astype("int64"),
        "label": empty_as_null(rows["label"]),
        "position": rows["position"].astype("int64"),
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


def empty_as_null(labels: pd.Series) -> pd.Series:
    """Labels with empty (and missing) ones as NULL, as `label or None` did."""
    values = labels.astype(object)
    return values.where(values.notna() & (values != ""), None)


def _new_record_ids(
    conn: sa.Connection, t: MagentoTables, keys: list[tuple[int, int]], *, store_id: int | None
) -> list[int]:
    """Record ids of the value rows just inserted for (link, value_id) pairs (the newest row of each pair).

    Per store when `store_id` is None, keys then being (link, value_id, store_id).
    """
    val, link = t.media_gallery_value, t.link
    found: dict[tuple[int, ...], int] = {}
    for part in in_chunks(list(dict.fromkeys(keys)), 2000):
        if store_id is None:
            match = sa.tuple_(val.c[link], val.c.value_id, val.c.store_id).in_(part)
            query = (
                sa.select(val.c[link], val.c.value_id, val.c.store_id, sa.func.max(val.c.record_id))
                .where(match)
                .group_by(val.c[link], val.c.value_id, val.c.store_id)
            )
            found.update({(int(e), int(v), int(s)): int(r) for e, v, s, r in conn.execute(query)})
        else:
            pairs = (
                sa.select(val.c[link], val.c.value_id, sa.func.max(val.c.record_id))
                .where(val.c.store_id == store_id, sa.tuple_(val.c[link], val.c.value_id).in_(part))
                .group_by(val.c[link], val.c.value_id)
            )
            found.update({(int(e), int(v)): int(r) for e, v, r in conn.execute(pairs)})
    return [found[k] for k in keys]


def nullable_ints(values: pd.Series) -> pd.Series:
    """Whole numbers with missing ones as NA (NULL in the database)."""
    return pd.to_numeric(values.astype(object), errors="coerce").round().astype("Int64")
