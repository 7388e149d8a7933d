"""The undo journal (nacento_batch_journal) and the revert of a batch.

In the transaction of each chunk's write, before anything is written, every row the chunk may change is read
for the products it changes (`read_before`): their gallery rows and links, their value rows in every store,
their ETag rows, their role and `*_label` rows in every store, their sync-state row and their `updated_at`.
After the write, the same products' rows are digested by the database (`fingerprints`) and one journal row
per product is stored: the compressed before-image and the digest of what the batch left (`record`).

`revert_batch` restores a batch's products, chunk by chunk under the writer lock, where their rows are still
exactly what the batch left (the digest again); the others are listed and left alone unless forced. Restoring
deletes the product's current rows and inserts the before-image's rows with their ids. A revert journals
what it replaced under `revert:<batch key>` (kind `revert`): a revert is never reverted itself.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.journal import (
    EMPTY_IMAGE,
    FIRST_SHOWN,
    choose_restores,
    decode,
    encode,
    group_images,
    image_frames,
)
from nacento_pipeline.magento import bulk_sql
from nacento_pipeline.magento.catalog import in_chunks
from nacento_pipeline.magento.database import AttributeIds, MagentoDatabase, ensure_crc32
from nacento_pipeline.magento.gallery.digest import forget_in
from nacento_pipeline.magento.gallery.reader import row_crc32, unindexed
from nacento_pipeline.magento.schema import MagentoTables

KEY = "_link"  # the product's link id in every part read
BATCH, REVERT = "batch", "revert"
REVERT_PREFIX = "revert:"
LINK_LIST = 1000  # links per IN list
# What a journal entry covers: `gallery`, every part of the product (its gallery, roles or labels change);
# `sync`, its sync-state row only (the batch changed nothing else of it: a new batch over an unchanged gallery).
SCOPES: dict[str, tuple[str, ...]] = {
    "gallery": ("gallery", "values", "meta", "roles", "sync", "product"),
    "sync": ("sync",),
}


class RevertRefused(RuntimeError):
    """A batch that cannot be reverted (no journal, or a revert itself); the message says why."""


# ------------------------------------------------------------------------------------------------------
# The parts of a before-image: name -> the table whose rows it holds, and the query reading them for links


def _columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns]


def part_columns(t: MagentoTables) -> dict[str, list[str]]:
    """The columns of each part's rows, in order (gallery = media_gallery rows, their links implied)."""
    return {
        "gallery": _columns(t.media_gallery),
        "values": _columns(t.media_gallery_value),
        "meta": _columns(t.gallery_meta),
        "roles": _columns(t.varchar),
        "sync": _columns(t.sku_sync_state),
        "product": ["updated_at"],
    }


def _part_tables(t: MagentoTables) -> dict[str, sa.Table]:
    return {
        "gallery": t.media_gallery,
        "values": t.media_gallery_value,
        "meta": t.gallery_meta,
        "roles": t.varchar,
        "sync": t.sku_sync_state,
        "product": t.product,
    }


def _datetime_positions(t: MagentoTables) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for name, columns in part_columns(t).items():
        table = _part_tables(t)[name]
        out[name] = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, sa.DateTime)]
    return out


def _queries(t: MagentoTables, attrs: AttributeIds, links: list[int]) -> dict[str, sa.Select]:
    """The rows of every part but `sync` for these links, each with the link as KEY."""
    mg, vte, val, meta, vc, p = (
        t.media_gallery,
        t.value_to_entity,
        t.media_gallery_value,
        t.gallery_meta,
        t.varchar,
        t.product,
    )
    link = t.link
    return {
        "gallery": sa.select(vte.c[link].label(KEY), *mg.c)
        .join(mg, mg.c.value_id == vte.c.value_id)
        .where(vte.c[link].in_(links)),
        "values": sa.select(val.c[link].label(KEY), *val.c).where(val.c[link].in_(links)),
        "meta": sa.select(val.c[link].label(KEY), *meta.c)
        .join(val, val.c.record_id == meta.c.record_id)
        .where(val.c[link].in_(links)),
        "roles": sa.select(vc.c[link].label(KEY), *vc.c).where(
            vc.c[link].in_(links), unindexed(vc.c.attribute_id).in_(list(attrs.varchar_codes().values()))
        ),
        "product": sa.select(p.c[link].label(KEY), p.c.updated_at).where(p.c[link].in_(links)),
    }


def _rows(conn: sa.Connection, query: sa.Select) -> list[tuple]:
    return [tuple(r) for r in conn.execute(query)]


def _scoped(products: pd.DataFrame) -> Iterator[tuple[tuple[str, ...], pd.DataFrame]]:
    """(parts, products) per scope of the products (column `scope`, `gallery` when absent)."""
    scopes = products["scope"] if "scope" in products else pd.Series("gallery", index=products.index)
    for scope, group in products.groupby(scopes.to_numpy(), sort=True):
        yield SCOPES[str(scope)], group


def read_parts(
    conn: sa.Connection,
    t: MagentoTables,
    attrs: AttributeIds,
    products: pd.DataFrame,
    wanted: tuple[str, ...] = SCOPES["gallery"],
) -> dict[str, list[tuple]]:
    """The `wanted` parts' rows of these products (sku, link_id), each row led by the product's link: one
    statement per part per IN list."""
    links = sorted(set(products["link_id"].astype(int)))
    parts: dict[str, list[tuple]] = {name: [] for name in part_columns(t)}
    for chunk in in_chunks(links, LINK_LIST):
        for name, query in _queries(t, attrs, chunk).items():
            if name in wanted:
                parts[name].extend(_rows(conn, query))
    if "sync" not in wanted:
        return parts
    st = t.sku_sync_state
    link_of = dict(zip(products["sku"].astype(str), products["link_id"].astype("int64"), strict=True))
    for skus in in_chunks(list(link_of)):
        # *_ci collations match other spellings: only the SKUs asked for
        parts["sync"].extend(
            (int(link_of[row[0]]), *row)
            for row in _rows(conn, sa.select(st).where(st.c.sku.in_(skus)))
            if row[0] in link_of
        )
    return parts


def read_before(
    conn: sa.Connection, t: MagentoTables, attrs: AttributeIds, products: pd.DataFrame
) -> dict[int, bytes]:
    """link id -> the compressed before-image of each product (an empty image for a product with no row), of the
    parts its scope covers."""
    out: dict[int, bytes] = {}
    for wanted, group in _scoped(products):
        images = group_images(read_parts(conn, t, attrs, group, wanted), _datetime_positions(t))
        out.update(
            {int(link): encode(images.get(int(link), EMPTY_IMAGE)) for link in group["link_id"].astype(int)}
        )
    return out


# ------------------------------------------------------------------------------------------------------
# Fingerprints: what a product's rows are now, digested by the database (timestamps left out)


@functools.lru_cache(maxsize=16)
def _digest_statement(
    t: MagentoTables, varchar: tuple[int, ...], wanted: tuple[str, ...]
) -> sa.CompoundSelect:
    """One statement digesting the `wanted` parts' rows per product: (part, key, rows, sum of the rows' CRC32),
    key = the link (the SKU for `sync`); links and SKUs bound at execution. Built once per schema and scope."""
    mg, vte, val, meta, vc, st = (
        t.media_gallery,
        t.value_to_entity,
        t.media_gallery_value,
        t.gallery_meta,
        t.varchar,
        t.sku_sync_state,
    )
    link = t.link
    links: sa.BindParameter[list[int]] = sa.bindparam("links", expanding=True)
    skus: sa.BindParameter[list[str]] = sa.bindparam("skus", expanding=True)
    untimed = [c for c in st.c if c.name != "updated_at"]

    def grouped(name: str, key: sa.ColumnElement, columns: list, base: sa.Select) -> sa.Select:
        return base.with_only_columns(
            sa.literal(name), sa.cast(key, sa.String), sa.func.count(), sa.func.sum(row_crc32(columns))
        ).group_by(key)

    parts = {
        "gallery": lambda: grouped(
            "gallery",
            vte.c[link],
            list(mg.c),
            sa.select(mg).join(vte, vte.c.value_id == mg.c.value_id).where(vte.c[link].in_(links)),
        ),
        "values": lambda: grouped(
            "values", val.c[link], list(val.c), sa.select(val).where(val.c[link].in_(links))
        ),
        "meta": lambda: grouped(
            "meta",
            val.c[link],
            [meta.c.record_id, meta.c.s3_etag],
            sa.select(meta).join(val, val.c.record_id == meta.c.record_id).where(val.c[link].in_(links)),
        ),
        "roles": lambda: grouped(
            "roles",
            vc.c[link],
            list(vc.c),
            sa.select(vc).where(vc.c[link].in_(links), unindexed(vc.c.attribute_id).in_(list(varchar))),
        ),
        "sync": lambda: grouped("sync", st.c.sku, untimed, sa.select(st).where(st.c.sku.in_(skus))),
    }
    return sa.union_all(*(build() for name, build in parts.items() if name in wanted))


def fingerprints(
    conn: sa.Connection, t: MagentoTables, attrs: AttributeIds, products: pd.DataFrame
) -> dict[int, str]:
    """link id -> digest of the product's gallery, links, values, ETags, roles and sync state now, of the parts
    its scope covers (one aggregate statement per IN list)."""
    out: dict[int, str] = {}
    for wanted, group in _scoped(products):
        out.update(_fingerprints(conn, t, attrs, group, wanted))
    return out


def _fingerprints(
    conn: sa.Connection,
    t: MagentoTables,
    attrs: AttributeIds,
    products: pd.DataFrame,
    wanted: tuple[str, ...],
) -> dict[int, str]:
    ensure_crc32(conn)
    link_of = dict(zip(products["sku"].astype(str), products["link_id"].astype("int64"), strict=True))
    found: dict[int, list[str]] = {int(link): [] for link in products["link_id"].astype(int)}
    statement = _digest_statement(
        t, tuple(sorted(attrs.varchar_codes().values())), tuple(p for p in wanted if p != "product")
    )
    for chunk in in_chunks(sorted(found), LINK_LIST):
        members = set(chunk)
        skus = [s for s, link in link_of.items() if int(link) in members]
        params = {"links": chunk or [0], "skus": skus or [""]}
        for name, key, n, total in conn.execute(statement, params):
            owner = link_of.get(str(key)) if name == "sync" else int(key)
            if owner is not None and int(owner) in found:
                found[int(owner)].append(f"{name}:{int(n)}:{int(total or 0)}")
    return {
        link: hashlib.blake2b(";".join(sorted(parts)).encode(), digest_size=16).hexdigest()
        for link, parts in found.items()
    }


# ------------------------------------------------------------------------------------------------------
# Recording


def record(
    conn: sa.Connection,
    t: MagentoTables,
    attrs: AttributeIds,
    products: pd.DataFrame,
    before: Mapping[int, bytes],
    *,
    batch_key: str,
    run_id: str,
    kind: str = BATCH,
) -> None:
    """One journal row per product (sku, entity_id, link_id) after its write: the before-image and the digest
    of what the write left. A product the batch journaled before keeps its first before-image (a re-run of
    the batch) unless that entry was reverted since; a revert's entry is replaced."""
    if products.empty:
        return
    j = t.batch_journal
    after = fingerprints(conn, t, attrs, products)
    links = products["link_id"].astype(int).tolist()
    for part in in_chunks(links, LINK_LIST):
        stale = sa.or_(j.c.reverted_by.is_not(None), j.c.kind == REVERT)
        conn.execute(sa.delete(j).where(j.c.batch_key == batch_key, j.c.link_id.in_(part), stale))
    bulk_sql.upsert(
        conn,
        j,
        {
            "batch_key": batch_key,
            "kind": kind,
            "sku": products["sku"].astype(str),
            "entity_id": products["entity_id"].astype("int64"),
            "link_id": products["link_id"].astype("int64"),
            "scope": products["scope"].astype(str) if "scope" in products else "gallery",
            "run_id": run_id,
            "before_image": [before[int(link)] for link in links],
            "after_fingerprint": [after[int(link)] for link in links],
        },
        ["batch_key", "link_id"],
        ["after_fingerprint"],
    )


# ------------------------------------------------------------------------------------------------------
# Restoring


def _delete_current(
    conn: sa.Connection, t: MagentoTables, attrs: AttributeIds, products: pd.DataFrame
) -> None:
    """Delete every journaled row of these products (the rows a before-image of their scope holds), set-based."""
    st = t.sku_sync_state
    for wanted, group in _scoped(products):
        if "gallery" in wanted:
            _delete_gallery(conn, t, attrs, group)
        for skus in in_chunks(group["sku"].astype(str).tolist()):
            conn.execute(sa.delete(st).where(st.c.sku.in_(skus)))


def _delete_gallery(
    conn: sa.Connection, t: MagentoTables, attrs: AttributeIds, products: pd.DataFrame
) -> None:
    mg, vte, val, meta, vc = (
        t.media_gallery,
        t.value_to_entity,
        t.media_gallery_value,
        t.gallery_meta,
        t.varchar,
    )
    link = t.link
    links = sorted(set(products["link_id"].astype(int)))
    for part in in_chunks(links, LINK_LIST):
        value_ids = [int(v) for (v,) in conn.execute(sa.select(vte.c.value_id).where(vte.c[link].in_(part)))]
        conn.execute(
            sa.delete(meta).where(
                meta.c.record_id.in_(sa.select(val.c.record_id).where(val.c[link].in_(part)))
            )
        )
        conn.execute(sa.delete(val).where(val.c[link].in_(part)))
        conn.execute(sa.delete(vte).where(vte.c[link].in_(part)))
        conn.execute(
            sa.delete(vc).where(
                vc.c[link].in_(part), vc.c.attribute_id.in_(list(attrs.varchar_codes().values()))
            )
        )
        for ids in in_chunks(sorted(set(value_ids)), 2000):
            linked = sa.select(vte.c.value_id).where(vte.c.value_id == mg.c.value_id).exists()
            conn.execute(sa.delete(mg).where(mg.c.value_id.in_(ids), ~linked))


def _columns_of(frame: pd.DataFrame, columns: list[str]) -> dict[str, bulk_sql.Column]:
    return {c: frame[c].astype(object).where(frame[c].notna(), None) for c in columns}


def _insert_images(
    conn: sa.Connection, t: MagentoTables, frames: dict[str, pd.DataFrame], gallery_links: pd.DataFrame
) -> None:
    """Insert a set of before-images' rows, ids included: gallery rows no product kept, links, values, ETags,
    roles, sync state; then the products' updated_at."""
    mg = t.media_gallery
    gallery = frames["gallery"].drop_duplicates("value_id")
    if len(gallery):
        ids = [int(v) for v in gallery["value_id"]]
        existing: set[int] = set()
        for part in in_chunks(ids, 2000):
            existing.update(
                int(v) for (v,) in conn.execute(sa.select(mg.c.value_id).where(mg.c.value_id.in_(part)))
            )
        missing = gallery[~gallery["value_id"].astype(int).isin(existing)]
        bulk_sql.insert(conn, mg, _columns_of(missing, _columns(mg)))
    if len(gallery_links):
        bulk_sql.insert(
            conn,
            t.value_to_entity,
            {
                "value_id": gallery_links["value_id"].astype("int64"),
                t.link: gallery_links["link_id"].astype("int64"),
            },
        )
    for name, table in (
        ("values", t.media_gallery_value),
        ("meta", t.gallery_meta),
        ("roles", t.varchar),
        ("sync", t.sku_sync_state),
    ):
        if len(frames[name]):
            bulk_sql.insert(conn, table, _columns_of(frames[name], _columns(table)))
    product = frames["product"]
    if len(product):
        bulk_sql.update(
            conn,
            t.product,
            {t.link: product["link_id"].astype("int64")},
            {"updated_at": product["updated_at"]},
        )


def restore(conn: sa.Connection, t: MagentoTables, attrs: AttributeIds, entries: pd.DataFrame) -> None:
    """Put these journal entries' products (link_id, sku, before_image) back to their before-images."""
    if entries.empty:
        return
    positions = _datetime_positions(t)
    columns = part_columns(t)
    images = [decode(blob, positions) for blob in entries["before_image"]]
    # each image's gallery and product rows carry no link: add it (the values, roles, meta rows name theirs)
    links = entries["link_id"].astype(int).tolist()
    gallery_links = pd.DataFrame(
        [
            (row[0], link)
            for image, link in zip(images, links, strict=True)
            for row in image.get("gallery", [])
        ],
        columns=["value_id", "link_id"],
    )
    product_rows = [
        [*row, link] for image, link in zip(images, links, strict=True) for row in image.get("product", [])
    ]
    frames = image_frames(images, columns)
    frames["product"] = pd.DataFrame(product_rows, columns=[*columns["product"], "link_id"])
    _delete_current(conn, t, attrs, entries)
    _insert_images(conn, t, frames, gallery_links)


# ------------------------------------------------------------------------------------------------------
# The revert of a batch


@dataclass(frozen=True)
class RevertResult:
    """What a revert did: the products restored, those skipped because they changed since the batch, and
    how many had been reverted already (a second revert restores nothing)."""

    batch_key: str
    reverted: pd.DataFrame  # sku, entity_id
    skipped: pd.DataFrame  # sku, entity_id
    already_reverted: int
    forced: bool

    @property
    def changed_entity_ids(self) -> list[int]:
        return sorted(set(self.reverted["entity_id"].astype(int)))

    def counts(self) -> dict[str, int]:
        return {
            "reverted": len(self.reverted),
            "skipped_changed_since": len(self.skipped),
            "already_reverted": self.already_reverted,
        }


def _entries(db: MagentoDatabase, batch_key: str) -> pd.DataFrame:
    j = db.tables.batch_journal
    query = (
        sa.select(
            j.c.journal_id,
            j.c.kind,
            j.c.scope,
            j.c.sku,
            j.c.entity_id,
            j.c.link_id,
            j.c.after_fingerprint,
            j.c.reverted_by,
        )
        .where(j.c.batch_key == batch_key)
        .order_by(j.c.journal_id)
    )
    with db.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    return pd.DataFrame(
        rows,
        columns=[
            "journal_id",
            "kind",
            "scope",
            "sku",
            "entity_id",
            "link_id",
            "after_fingerprint",
            "reverted_by",
        ],
    )


def _blobs(conn: sa.Connection, t: MagentoTables, ids: list[int]) -> dict[int, bytes]:
    j = t.batch_journal
    out: dict[int, bytes] = {}
    for part in in_chunks(ids, 2000):
        out.update(
            {
                int(i): bytes(b)
                for i, b in conn.execute(
                    sa.select(j.c.journal_id, j.c.before_image).where(j.c.journal_id.in_(part))
                )
            }
        )
    return out


def _parts(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size]


def revert_batch(
    db: MagentoDatabase,
    batch_key: str,
    *,
    run_id: str,
    force: bool = False,
    chunk_size: int = 500,
    retention_days: int | None = None,
) -> RevertResult:
    """Restore the products a batch wrote to their before-images, where they are still what the batch left
    (all of them with `force`), chunk by chunk in one transaction each under the writer lock."""
    entries = _entries(db, batch_key)
    if entries.empty:
        kept = f" (the journal keeps {retention_days} days)" if retention_days else ""
        raise RevertRefused(
            f"batch {batch_key}: nothing to revert: the journal holds no entry for it (never "
            f"written, written before the journal existed, or pruned{kept})"
        )
    if batch_key.startswith(REVERT_PREFIX) or (entries["kind"] == REVERT).any():
        raise RevertRefused(
            f"{batch_key} is itself a revert and cannot be reverted: to apply the batch again, "
            "re-execute pim_batch_job for its partition"
        )
    pending = entries[entries["reverted_by"].isna()]
    t, attrs = db.tables, db.attribute_ids()
    reverted: list[pd.DataFrame] = []
    skipped: list[pd.DataFrame] = []
    with db.writer_lock() as lock:
        for chunk in _parts(pending, max(1, chunk_size)):
            with lock.transaction() as conn:
                now = fingerprints(conn, t, attrs, chunk)
                choice = choose_restores(chunk, now, force=force)
                skipped.append(choice.skipped)
                todo = choice.restore
                if todo.empty:
                    continue
                blobs = _blobs(conn, t, todo["journal_id"].astype(int).tolist())
                todo = todo.assign(before_image=todo["journal_id"].astype(int).map(blobs))
                replaced = read_before(conn, t, attrs, todo)
                restore(conn, t, attrs, todo)
                forget_in(conn, t, todo["sku"].astype(str).tolist())  # what was applied is undone
                record(
                    conn,
                    t,
                    attrs,
                    todo,
                    replaced,
                    batch_key=REVERT_PREFIX + batch_key,
                    run_id=run_id,
                    kind=REVERT,
                )
                j = t.batch_journal
                for part in in_chunks(todo["journal_id"].astype(int).tolist(), 2000):
                    conn.execute(sa.update(j).where(j.c.journal_id.in_(part)).values(reverted_by=run_id))
                reverted.append(todo)
    shown = ["sku", "entity_id"]

    def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frames = [f[shown] for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=shown)

    return RevertResult(batch_key, joined(reverted), joined(skipped), len(entries) - len(pending), force)


def first_products(frame: pd.DataFrame) -> str:
    skus = frame["sku"].astype(str).tolist() if len(frame) else []
    return ", ".join(skus[:FIRST_SHOWN]) + (" ..." if len(skus) > FIRST_SHOWN else "") or "-"


def prune_journal(db: MagentoDatabase, retention_days: int) -> int:
    """Delete journal rows older than `retention_days` (the database's clock); how many were deleted."""
    j = db.tables.batch_journal
    with db.engine.begin() as conn:
        now = conn.execute(sa.select(sa.func.current_timestamp())).scalar_one()
        if isinstance(now, str):
            now = pd.Timestamp(now).to_pydatetime()
        cutoff = now - timedelta(days=retention_days)
        return int(conn.execute(sa.delete(j).where(j.c.created_at < cutoff)).rowcount or 0)
