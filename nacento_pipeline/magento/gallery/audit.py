"""Reads and small fixes for checks and the daily audit.

They cover roles vs gallery, whole-catalog gallery rows and orphans.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.frames import NO_SELECTION
from nacento_pipeline.core.paths import canonical_of
from nacento_pipeline.magento.catalog import live_link_ids
from nacento_pipeline.magento.database import MagentoDatabase

CHUNK = 1000


def roles_outside_gallery(
    db: MagentoDatabase, entity_ids: Iterable[int], gallery_links: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Role values, in every store, of these products that name no path of their own gallery.

    Values equal to no_selection are left out; a store-level role is shown in its store as much as a
    store-0 one. `gallery_links` (entity_id, canonical value; e.g. magento.gallery.verify.read_gallery_links
    of these products) spares reading the galleries again. Rows are selected by link column (row_id on
    content-staging schemas) through catalog.live_link_ids and reported by entity_id.
    """
    t = db.tables
    attrs = db.attribute_ids()
    code_of = {aid: code for code, aid in attrs.roles.items()}
    link_v, link_g = t.varchar.c[t.link], t.value_to_entity.c[t.link]
    roles: list[tuple] = []
    gallery: list[tuple] = []
    with db.engine.connect() as conn:
        entity_of = {link: entity for entity, link in live_link_ids(conn, t, entity_ids).items()}
        for chunk in chunked(sorted(entity_of), CHUNK):
            roles += conn.execute(
                sa.select(link_v, t.varchar.c.attribute_id, t.varchar.c.value, t.varchar.c.store_id).where(
                    link_v.in_(chunk),
                    t.varchar.c.attribute_id.in_(list(code_of)),
                    t.varchar.c.value.is_not(None),
                    t.varchar.c.value != NO_SELECTION,
                )
            ).all()
            if gallery_links is None:
                gallery += conn.execute(
                    sa.select(link_g, t.media_gallery.c.value)
                    .join(t.media_gallery, t.media_gallery.c.value_id == t.value_to_entity.c.value_id)
                    .where(link_g.in_(chunk))
                ).all()
    columns = ["entity_id", "role", "value", "store_id"]
    if not roles:
        return pd.DataFrame(columns=columns)
    role_frame = pd.DataFrame(roles, columns=["link_id", "attribute_id", "value", "store_id"])
    role_frame["entity_id"] = role_frame["link_id"].astype("int64").map(entity_of)
    role_frame["role"] = role_frame["attribute_id"].map(code_of)
    role_frame["canonical"] = [canonical_of(v) for v in role_frame["value"]]
    if gallery_links is not None:
        owned = {
            (int(e), canonical_of(v))
            for e, v in zip(gallery_links["entity_id"].tolist(), gallery_links["value"].tolist(), strict=True)
            if v
        }
    else:
        owned = {(entity_of[int(link)], canonical_of(v)) for link, v in gallery if v}
    bad = role_frame[
        [
            (int(e), c) not in owned
            for e, c in zip(role_frame["entity_id"], role_frame["canonical"], strict=True)
        ]
    ]
    return bad[columns].reset_index(drop=True)


def gallery_summary(db: MagentoDatabase) -> str:
    """One line of counts for people: what the gallery tables hold now."""
    t = db.tables
    attrs = db.attribute_ids()
    with db.engine.connect() as conn:

        def count(table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar() or 0
            )

        products = int(
            conn.execute(sa.select(sa.func.count(sa.distinct(t.value_to_entity.c[t.link])))).scalar() or 0
        )
        parts = {
            "products with images": products,
            "gallery paths": count(t.media_gallery),
            "store-0 image rows": count(t.media_gallery_value, t.media_gallery_value.c.store_id == 0),
            "stored ETags": count(t.gallery_meta),
            "roles set": count(
                t.varchar,
                t.varchar.c.store_id == 0,
                t.varchar.c.attribute_id.in_(list(attrs.roles.values())),
                t.varchar.c.value != NO_SELECTION,
            ),
        }
    return ", ".join(f"{value} {name}" for name, value in parts.items())


def iter_gallery_rows(db: MagentoDatabase, chunk_size: int = 50_000) -> Iterator[pd.DataFrame]:
    """The catalog's store-0 gallery rows with their stored ETags, in record_id order, a chunk at a time."""
    t = db.tables
    v, g, m, p = t.media_gallery_value, t.media_gallery, t.gallery_meta, t.product
    last = 0
    columns = ["entity_id", "sku", "value_id", "value", "record_id", "s3_etag"]
    with db.engine.connect() as conn:
        while True:
            rows = conn.execute(
                sa.select(v.c[t.link], p.c.sku, v.c.value_id, g.c.value, v.c.record_id, m.c.s3_etag)
                .join(g, g.c.value_id == v.c.value_id)
                .join(p, p.c[t.link] == v.c[t.link])
                .outerjoin(m, m.c.record_id == v.c.record_id)
                .where(v.c.store_id == 0, v.c.record_id > last)
                .order_by(v.c.record_id)
                .limit(chunk_size)
            ).all()
            if not rows:
                return
            frame = pd.DataFrame(rows, columns=columns)
            last = int(frame["record_id"].iloc[-1])
            yield frame


def orphaned_meta_record_ids(db: MagentoDatabase) -> list[int]:
    """ETag rows whose gallery value row is gone (possible where foreign keys were not enforced)."""
    t = db.tables
    m, v = t.gallery_meta, t.media_gallery_value
    with db.engine.connect() as conn:
        return [
            int(r)
            for r in conn.execute(
                sa.select(m.c.record_id)
                .outerjoin(v, v.c.record_id == m.c.record_id)
                .where(v.c.record_id.is_(None))
            ).scalars()
        ]


def unlinked_gallery_value_ids(db: MagentoDatabase) -> list[int]:
    """media_gallery rows of the media_gallery attribute that no product links any more."""
    t = db.tables
    g, vte = t.media_gallery, t.value_to_entity
    with db.engine.connect() as conn:
        return [
            int(r)
            for r in conn.execute(
                sa.select(g.c.value_id)
                .outerjoin(vte, vte.c.value_id == g.c.value_id)
                .where(vte.c.value_id.is_(None), g.c.attribute_id == db.attribute_ids().media_gallery)
            ).scalars()
        ]


def delete_orphans(
    db: MagentoDatabase, meta_record_ids: Sequence[int], gallery_value_ids: Sequence[int]
) -> int:
    """Delete orphaned ETag rows and unlinked gallery rows, one statement per chunk, under the writer lock."""
    t = db.tables
    deleted = 0
    with db.writer_lock() as lock, lock.transaction() as conn:
        for chunk in chunked(meta_record_ids, CHUNK):
            deleted += conn.execute(
                sa.delete(t.gallery_meta).where(t.gallery_meta.c.record_id.in_(chunk))
            ).rowcount
        for chunk in chunked(gallery_value_ids, CHUNK):
            # Re-check inside the lock: a writer may have linked the path since we looked.
            linked = sa.select(t.value_to_entity.c.value_id).where(t.value_to_entity.c.value_id.in_(chunk))
            deleted += conn.execute(
                sa.delete(t.media_gallery).where(
                    t.media_gallery.c.value_id.in_(chunk), t.media_gallery.c.value_id.not_in(linked)
                )
            ).rowcount
    return deleted


def refresh_etags(db: MagentoDatabase, record_etags: pd.DataFrame) -> int:
    """Store the ETags storage reports now (columns record_id, etag): one executemany per chunk."""
    t = db.tables
    m = t.gallery_meta
    rows = [
        {"rid": int(r), "etag": str(e)}
        for r, e in zip(record_etags["record_id"], record_etags["etag"], strict=True)
    ]
    updated = 0
    with db.writer_lock() as lock, lock.transaction() as conn:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            conn.execute(
                m.update().where(m.c.record_id == sa.bindparam("rid")).values(s3_etag=sa.bindparam("etag")),
                chunk,
            )
            updated += len(chunk)
    return updated


def shared_gallery_rows(db: MagentoDatabase) -> pd.DataFrame:
    """media_gallery rows linked to more than one product (value_id, value, products).

    The PHP connector shared them; Magento never does, and one admin removal on such a row empties every
    sharer's gallery.
    """
    t = db.tables
    vte, mg = t.value_to_entity, t.media_gallery
    counts = (
        sa.select(vte.c.value_id, sa.func.count().label("products"))
        .group_by(vte.c.value_id)
        .having(sa.func.count() > 1)
        .subquery()
    )
    query = sa.select(counts.c.value_id, mg.c.value, counts.c.products).join(
        mg, mg.c.value_id == counts.c.value_id
    )
    with db.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query.order_by(counts.c.value_id))]
    return pd.DataFrame(rows, columns=["value_id", "value", "products"])


def split_shared_gallery_rows(db: MagentoDatabase, chunk_size: int = 1000) -> int:
    """Give every product but the first (lowest link id) of each shared row a row of its own.

    Runs under the writer lock, a chunk of rows per transaction. Returns the number of products moved to their
    own row.
    """
    from nacento_pipeline.magento.gallery.statements import split_rows

    t = db.tables
    vte = t.value_to_entity
    attrs = db.attribute_ids()
    moved = 0
    with db.writer_lock() as lock:
        shared = shared_gallery_rows(db)["value_id"].astype(int).tolist()
        for part in chunked(shared, chunk_size):
            with lock.transaction() as conn:
                links = pd.DataFrame(
                    [
                        tuple(r)
                        for r in conn.execute(
                            sa.select(vte.c[t.link], vte.c.value_id).where(vte.c.value_id.in_(part))
                        )
                    ],
                    columns=["link_id", "value_id"],
                )
                first = links.groupby("value_id")["link_id"].transform("min")
                others = links[links["link_id"] != first]
                if len(others):
                    split_rows(conn, db, attrs, others)
                    moved += len(others)
    return moved


def duplicate_default_value_rows(db: MagentoDatabase) -> pd.DataFrame:
    """Store-0 value rows of a (product, image) pair that has several (no unique key prevents it).

    Columns record_id, link_id, value_id, position, extra (not the one Magento shows: its reader keeps the
    last in position order, `Gallery::createBatchBaseSelect` read through `ReadHandler`, ties by record_id
    here).
    """
    t = db.tables
    val = t.media_gallery_value
    pairs = (
        sa.select(val.c[t.link], val.c.value_id)
        .where(val.c.store_id == 0)
        .group_by(val.c[t.link], val.c.value_id)
        .having(sa.func.count() > 1)
        .subquery()
    )
    query = (
        sa.select(val.c.record_id, val.c[t.link], val.c.value_id, val.c.position)
        .join(pairs, sa.and_(pairs.c[t.link] == val.c[t.link], pairs.c.value_id == val.c.value_id))
        .where(val.c.store_id == 0)
    )
    with db.engine.connect() as conn:
        rows = pd.DataFrame(
            [tuple(r) for r in conn.execute(query)], columns=["record_id", "link_id", "value_id", "position"]
        )
    rows["_pos"] = pd.to_numeric(rows["position"], errors="coerce").fillna(-1)
    rows = rows.sort_values(["link_id", "value_id", "_pos", "record_id"]).drop(columns=["_pos"])
    rows["extra"] = rows.duplicated(["link_id", "value_id"], keep="last")
    return rows.reset_index(drop=True)


def collapse_duplicate_default_value_rows(db: MagentoDatabase) -> int:
    """Delete the extra store-0 value rows (`duplicate_default_value_rows`) with their ETag rows.

    Runs under the writer lock, one transaction; the row Magento shows stays. Returns the rows deleted.
    """
    t = db.tables
    with db.writer_lock() as lock:
        extra = duplicate_default_value_rows(db)
        ids = extra.loc[extra["extra"], "record_id"].astype(int).tolist()
        with lock.transaction() as conn:
            for chunk in chunked(ids, CHUNK):
                conn.execute(sa.delete(t.gallery_meta).where(t.gallery_meta.c.record_id.in_(chunk)))
                conn.execute(
                    sa.delete(t.media_gallery_value).where(t.media_gallery_value.c.record_id.in_(chunk))
                )
    return len(ids)
