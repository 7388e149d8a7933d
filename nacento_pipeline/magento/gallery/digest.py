"""What was applied per SKU (nacento_sku_gallery_digest), so that a re-sync plans only the SKUs that differ.

Per SKU written without a problem, in the write's own transaction: the digest of what the batch planned for it
(core.gallery_digest), the product's link, a copy of the product's `updated_at` right after the write and a
checksum of its gallery rows, store-level rows and role values computed by the database.

A re-sync (`applied_digests`) leaves a SKU out of the plan when its digest is the one stored AND its product
row still has the same link and `updated_at` (Magento's admin, its imports and its APIs set `updated_at` on
every product save, so an edit there makes the SKU planned again). A change that bypasses `updated_at` (SQL
straight into the gallery tables) is what the daily audit reports (`changed_since_applied`, the checksum
computed again and compared); its fix deletes those SKUs' rows so that the next sync plans them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.delta.model import GalleryDelta, to_utc_naive
from nacento_pipeline.magento import bulk_read, bulk_sql
from nacento_pipeline.magento.catalog import IN_LIST_SIZE, in_chunks
from nacento_pipeline.magento.database import AttributeIds, MagentoDatabase, ensure_crc32
from nacento_pipeline.magento.gallery.reader import IMAGE_MEDIA_TYPE
from nacento_pipeline.magento.schema import MagentoTables

_NULL = "\x00"  # stands for NULL inside a checksummed row
AUDIT_CHUNK = 1000  # SKUs per statement of the audit's comparison


def _row_text(*columns: sa.ColumnElement) -> sa.ColumnElement[str]:
    fields: list[sa.ColumnElement[str]] = [sa.func.coalesce(sa.cast(c, sa.String), _NULL) for c in columns]
    return functools.reduce(lambda left, right: left + sa.literal("|") + right, fields)


def _gallery_rows(tables: MagentoTables) -> tuple[sa.ColumnElement[int], sa.ColumnElement[str], sa.Select]:
    """(link column, row text, select of both) over every image value row.

    All stores, each row with its path and ETag.
    """
    v, mg, meta = tables.media_gallery_value, tables.media_gallery, tables.gallery_meta
    link = v.c[tables.link]
    text = _row_text(mg.c.value, v.c.store_id, v.c.label, v.c.position, v.c.disabled, meta.c.s3_etag)
    query = (
        sa.select(link, text)
        .select_from(v)
        .join(mg, sa.and_(mg.c.value_id == v.c.value_id, mg.c.media_type == IMAGE_MEDIA_TYPE))
        .outerjoin(meta, meta.c.record_id == v.c.record_id)
    )
    return link, text, query


def _role_rows(
    tables: MagentoTables, attrs: AttributeIds
) -> tuple[sa.ColumnElement[int], sa.ColumnElement[str], sa.Select]:
    vc = tables.varchar
    link = vc.c[tables.link]
    text = _row_text(vc.c.attribute_id, vc.c.store_id, vc.c.value)
    query = sa.select(link, text).where(vc.c.attribute_id.in_(sorted(attrs.varchar_codes().values())))
    return link, text, query


def _checksum_of(
    tables: MagentoTables, attrs: AttributeIds, link: sa.ColumnElement[int]
) -> sa.ColumnElement[int]:
    """The checksum of one product link's gallery and role rows, as a correlated expression on `link`."""
    parts = []
    for own_link, text, query in (_gallery_rows(tables), _role_rows(tables, attrs)):
        total = (
            query.with_only_columns(sa.func.sum(sa.func.crc32(text)))
            .where(own_link == link)
            .scalar_subquery()
        )
        parts.append(sa.func.coalesce(total, 0))
    return parts[0] + parts[1]


def current_checksums(
    conn: sa.Connection, tables: MagentoTables, attrs: AttributeIds, links: Sequence[int]
) -> dict[int, int]:
    """Link -> checksum of its gallery and role rows now (the one recorded at write time, if unchanged).

    One grouped statement per kind of row. Links without any row are absent (their checksum is 0).
    """
    ensure_crc32(conn)
    found: dict[int, int] = {}
    for own_link, text, query in (_gallery_rows(tables), _role_rows(tables, attrs)):
        grouped = (
            query.with_only_columns(own_link, sa.func.sum(sa.func.crc32(text)))
            .where(own_link.in_(list(links)))
            .group_by(own_link)
        )
        for link, total in conn.execute(grouped):
            found[int(link)] = found.get(int(link), 0) + int(total or 0)
    return found


def applied_digests(conn: sa.Connection, tables: MagentoTables, skus: Iterable[str]) -> pd.DataFrame:
    """The applied digest and batch_key of those SKUs whose product is as the write that applied it left it.

    Indexed by sku; batch_key is the batch that last wrote or advanced the SKU. A SKU is left out when its
    product's link or `updated_at` differ from those recorded right after that write. A re-sync of the whole
    catalog asks for most digests: then one scan of the join (bulk_read), else one statement per IN list.
    """
    d, p = tables.sku_digest, tables.product
    query = sa.select(d.c.sku, d.c.plan_digest, d.c.batch_key).join(
        p,
        sa.and_(
            p.c[tables.link] == d.c.link_id,
            p.c.sku == d.c.sku,
            p.c.updated_at == d.c.product_updated_at,
        ),
    )
    wanted = list(dict.fromkeys(skus))
    rows = bulk_read.rows_for_keys(conn, query, d.c.sku, wanted, table=d, chunk=IN_LIST_SIZE)
    frame = pd.DataFrame(
        {
            "sku": rows["sku"].astype(str).to_numpy(object),
            "digest": rows["plan_digest"].astype(str).to_numpy(object),
            "batch_key": rows["batch_key"].fillna("").astype(str).to_numpy(object),
        }
    ).drop_duplicates("sku")
    return frame.set_index("sku")


def record_applied(
    conn: sa.Connection,
    db: MagentoDatabase,
    attrs: AttributeIds,
    delta: GalleryDelta,
    products: pd.DataFrame,
    digests: pd.Series,
    *,
    batch_key: str,
) -> None:
    """Record, inside the write's transaction, the digest of each SKU of `delta` written without a problem.

    Without a problem: status ok, no message, nothing invalid or rejected. Recorded with its link, its
    product's updated_at and gallery checksum. The row of a SKU written in part (status ok with a message) is
    deleted, so it is planned again next time; a stale or failed SKU keeps its row (nothing of this batch was
    written to it). `products`: the chunk's products (sku, entity_id, link_id, error) as read for the write.
    """
    results = delta.sku_results
    if results.empty:
        return
    t = db.tables
    clean = (
        (results["status"] == "ok")
        & (results["message"].fillna("") == "")
        & (results["entity_id"].astype("int64") > 0)
        & (pd.to_numeric(results["invalid"]).fillna(0) == 0)
        & (pd.to_numeric(results["rejected"]).fillna(0) == 0)
    )
    usable = products[products["error"] == ""].drop_duplicates("sku")
    link_of = pd.Series(
        usable["link_id"].astype("int64").to_numpy(), index=usable["sku"].astype(str).to_numpy()
    )
    skus = results["sku"].astype(str)
    digest = skus.map(digests) if len(digests) else pd.Series(None, index=skus.index, dtype=object)
    link = skus.map(link_of)
    keep = clean & digest.notna() & link.notna()
    partial = ~keep & (results["status"] == "ok")
    d = t.sku_digest
    if not (keep | partial).any():
        return
    stored = _stored_digests(conn, d, skus[keep | partial].tolist())  # one read: no statement writes nothing
    dropped = [s for s in skus[partial] if s in stored.index]
    for part in in_chunks(dropped):
        conn.execute(sa.delete(d).where(d.c.sku.in_(part)))
    # a row already holding the digest stays as it is, unless this write changed the product
    touched = results["entity_id"].astype("int64").isin(list(delta.changed_entity_ids))
    keep &= ~((skus.map(stored) == digest) & ~touched)
    kept = skus[keep].tolist()
    if not kept:
        return
    bulk_sql.upsert(
        conn,
        d,
        {
            "sku": skus[keep],
            "link_id": link[keep].astype("int64"),
            "plan_digest": digest[keep],
            "batch_key": batch_key,
            "product_updated_at": None,
            "gallery_checksum": None,
        },
        ["sku"],
        ["link_id", "plan_digest", "batch_key", "product_updated_at", "gallery_checksum"],
        touch="updated_at",
    )
    ensure_crc32(conn)
    p = t.product
    updated_at = sa.select(p.c.updated_at).where(p.c[t.link] == d.c.link_id).scalar_subquery()
    for part in in_chunks(kept):
        conn.execute(
            sa.update(d)
            .where(d.c.sku.in_(part))
            .values(product_updated_at=updated_at, gallery_checksum=_checksum_of(t, attrs, d.c.link_id))
        )


def _stored_digests(conn: sa.Connection, d: sa.Table, skus: list[str]) -> pd.Series:
    found: dict[str, str] = {}
    for part in in_chunks(skus):
        found.update(
            (str(s), str(g))
            for s, g in conn.execute(sa.select(d.c.sku, d.c.plan_digest).where(d.c.sku.in_(part)))
        )
    return pd.Series(found, dtype=object)


def advance_unchanged(
    conn: sa.Connection,
    tables: MagentoTables,
    skus: Sequence[str],
    *,
    batch_key: str,
    batch_time: datetime | None,
    run_id: str,
) -> int:
    """The sync state of SKUs a newer batch left unchanged now names that batch (as a write would have).

    So the stale-batch rule still refuses an older batch replayed later. Only where this batch is newer (drop
    time, then batch key: core.delta.compute' order); one UPDATE per IN list, no read, and the digest rows
    name the batch (a replay of it then finds nothing to advance). Returns the sync-state rows updated.
    """
    when = to_utc_naive(batch_time)
    if when is None or not skus:
        return 0
    st, d = tables.sku_sync_state, tables.sku_digest
    newer = sa.or_(
        st.c.last_batch_time.is_(None),
        st.c.last_batch_time < when,
        sa.and_(st.c.last_batch_time == when, st.c.last_batch_key < batch_key),
    )
    updated = 0
    for part in in_chunks(list(skus)):
        updated += (
            conn.execute(
                sa.update(st)
                .where(st.c.sku.in_(part), newer)
                .values(
                    last_batch_key=batch_key,
                    last_batch_time=when,
                    last_run_id=run_id,
                    updated_at=sa.func.current_timestamp(),
                )
            ).rowcount
            or 0
        )
        conn.execute(sa.update(d).where(d.c.sku.in_(part)).values(batch_key=batch_key))
    return updated


def changed_since_applied(db: MagentoDatabase) -> pd.DataFrame:
    """SKUs whose gallery or role rows differ from what the pipeline left there.

    Columns sku, link_id, recorded and current checksums: the out-of-band changes a re-sync would not see,
    since it skips SKUs whose digest is unchanged. One statement per AUDIT_CHUNK SKUs for the recorded rows
    and two for the current checksums.
    """
    t = db.tables
    attrs = db.attribute_ids()
    d = t.sku_digest
    found: list[tuple[str, int, int, int]] = []
    with db.engine.connect() as conn:
        last = ""
        while True:
            rows = [
                tuple(r)
                for r in conn.execute(
                    sa.select(d.c.sku, d.c.link_id, d.c.gallery_checksum)
                    .where(d.c.sku > last, d.c.gallery_checksum.is_not(None))
                    .order_by(d.c.sku)
                    .limit(AUDIT_CHUNK)
                )
            ]
            if not rows:
                break
            last = str(rows[-1][0])
            now = current_checksums(conn, t, attrs, sorted({int(r[1]) for r in rows}))
            found += [
                (str(s), int(link), int(old), now.get(int(link), 0))
                for s, link, old in rows
                if now.get(int(link), 0) != int(old)
            ]
    return pd.DataFrame(found, columns=["sku", "link_id", "recorded", "current"])


def forget_in(conn: sa.Connection, tables: MagentoTables, skus: Sequence[str]) -> int:
    """Delete the digest rows of these SKUs inside the caller's transaction (a revert, the audit's fix)."""
    d = tables.sku_digest
    deleted = 0
    for part in chunked(list(skus), AUDIT_CHUNK):
        deleted += conn.execute(sa.delete(d).where(d.c.sku.in_(part))).rowcount or 0
    return deleted


def forget(db: MagentoDatabase, skus: Sequence[str]) -> int:
    """Delete the digest rows of these SKUs (the audit's fix): the next sync plans them whatever the batch."""
    with db.writer_lock() as lock, lock.transaction() as conn:
        return forget_in(conn, db.tables, skus)
