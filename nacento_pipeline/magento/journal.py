"""The undo journal (nacento_batch_journal) and the revert of a batch.

In the transaction of each chunk's write, before anything is written, one journal row per product the chunk
changes is inserted with its before-image built by the database from the product's rows (`Journal.before`,
one `INSERT ... SELECT` per scope and IN list of links; no journaled row passes through Python): its gallery
rows and links, its value rows in every store, their ETag rows, its role and `*_label` rows in every store,
its sync-state row and its `updated_at`, as one compressed JSON document (core.journal's format). After the
write, the database digests what the write left into each entry's fingerprint (`Journal.after`, one UPDATE
per IN list). Products the batch does not list whose rows its write changes (magento.spellings' rewrites)
are journaled the same way in the same transaction.

`revert_batch` restores a batch's products, chunk by chunk under the writer lock, where their rows are still
exactly what the batch left (the digest again); the others are listed and left alone unless forced. Restoring
deletes the product's current rows and inserts the before-image's rows with their ids. A revert journals
what it replaced under `revert:<batch key>` (kind `revert`): a revert is never reverted itself.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite

from nacento_pipeline.core.journal import (
    FIRST_SHOWN,
    FORMAT,
    choose_restores,
    compress,
    decode,
    encode,
    image_frames,
)
from nacento_pipeline.magento import bulk_sql
from nacento_pipeline.magento.catalog import in_chunks
from nacento_pipeline.magento.database import AttributeIds, MagentoDatabase, ensure_crc32
from nacento_pipeline.magento.gallery.digest import forget_in
from nacento_pipeline.magento.gallery.reader import unindexed
from nacento_pipeline.magento.schema import MagentoTables

BATCH, REVERT = "batch", "revert"
REVERT_PREFIX = "revert:"
LINK_LIST = 1000  # links per IN list (MariaDB turns longer lists into a derived table)
# What a journal entry covers: `gallery`, every part of the product (its gallery, roles or labels change);
# `sync`, its sync-state row only (the batch changed nothing else of it: a new batch over an unchanged
# gallery).
SCOPES: dict[str, tuple[str, ...]] = {
    "gallery": ("gallery", "values", "meta", "roles", "sync", "product"),
    "sync": ("sync",),
}
FINGERPRINT_MARK = "v"  # format-2 fingerprints start with it (format 1's were hex digests)


class RevertRefused(RuntimeError):
    """A batch that cannot be reverted; the message says why.

    No journal, a revert itself, or an older journal format.
    """


# ------------------------------------------------------------------------------------------------------
# The parts of a before-image: name -> the table whose rows it holds, and the rows of one journal row's
# product


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


@dataclass(frozen=True)
class _Part:
    """A part's rows for the product of the enclosing statement.

    What they are read from (`rows`, a correlated select without columns) and the columns its before-image
    holds; the columns its fingerprint digests, read from `digest_rows` when given (the values' digest covers
    their ETag rows in the same pass).
    """

    rows: sa.Select
    image: list[sa.ColumnElement]
    digested: list[sa.ColumnElement]
    digest_rows: sa.Select | None = None


def _exact(column: sa.ColumnElement) -> sa.ColumnElement:
    """The column's bytes (MySQL's *_ci collations match other spellings of a SKU)."""
    return sa.cast(column, sa.LargeBinary)


def _correlated_parts(
    t: MagentoTables, varchar: tuple[int, ...], dialect: str, link: sa.ColumnElement, sku: sa.ColumnElement
) -> dict[str, _Part]:
    """Every part but `product`, correlated with the enclosing statement's product.

    `product` is the enclosing statement's own row; the correlation is on its `link` and `sku` columns.
    """
    mg, vte, val, meta, vc, st = (
        t.media_gallery,
        t.value_to_entity,
        t.media_gallery_value,
        t.gallery_meta,
        t.varchar,
        t.sku_sync_state,
    )
    same_sku = st.c.sku == sku
    if dialect != "sqlite":
        same_sku = sa.and_(same_sku, _exact(st.c.sku) == _exact(sku))
    return {
        "gallery": _Part(
            sa.select()
            .select_from(mg.join(vte, vte.c.value_id == mg.c.value_id))
            .where(vte.c[t.link] == link),
            list(mg.c),
            list(mg.c),
        ),
        "values": _Part(
            sa.select().select_from(val).where(val.c[t.link] == link),
            list(val.c),
            [*val.c, meta.c.record_id, meta.c.s3_etag],
            sa.select()
            .select_from(val.outerjoin(meta, meta.c.record_id == val.c.record_id))
            .where(val.c[t.link] == link),
        ),
        "meta": _Part(
            sa.select()
            .select_from(meta.join(val, val.c.record_id == meta.c.record_id))
            .where(val.c[t.link] == link),
            list(meta.c),
            [],  # digested with the values
        ),
        "roles": _Part(
            sa.select()
            .select_from(vc)
            .where(vc.c[t.link] == link, unindexed(vc.c.attribute_id).in_(list(varchar))),
            list(vc.c),
            list(vc.c),
        ),
        "sync": _Part(
            sa.select().select_from(st).where(same_sku),
            list(st.c),
            [c for c in st.c if c.name != "updated_at"],
        ),
    }


def _text(value: str) -> sa.ColumnElement[str]:
    return sa.literal(value, sa.String)


def _joined(pieces: list[sa.ColumnElement[str]]) -> sa.ColumnElement[str]:
    return functools.reduce(lambda left, right: left + right, pieces)


ENTRY_COLUMNS = [
    "batch_key",
    "kind",
    "scope",
    "run_id",
    "sku",
    "entity_id",
    "link_id",
    "before_image",
    "after_fingerprint",
]


@functools.lru_cache(maxsize=32)
def _insert_entries(t: MagentoTables, varchar: tuple[int, ...], dialect: str, scope: str) -> sa.Insert:
    """`INSERT INTO journal ... SELECT` of the products of the links bound as `links`.

    Each row's before-image is built by the database (per part of `scope` a JSON array of its rows, each a
    JSON array of its columns, compressed); an entry already there is kept. `batch_key`, `kind`, `run_id`
    bound at execution.
    """
    journaled = t.product.alias("journaled")
    link = journaled.c[t.link]
    parts = _correlated_parts(t, varchar, dialect, link, journaled.c.sku)
    aggregate = sa.func.json_group_array if dialect == "sqlite" else sa.func.json_arrayagg
    pieces = [_text(f'{{"v":{FORMAT}')]
    for name in SCOPES[scope]:
        if name == "product":  # its one row is the journaled product's
            value = sa.func.json_array(sa.func.json_array(journaled.c.updated_at), type_=sa.String)
        else:
            rows = parts[name].rows.with_only_columns(
                aggregate(sa.func.json_array(*parts[name].image), type_=sa.String)
            )
            value = sa.func.coalesce(rows.scalar_subquery(), _text("[]"))
        pieces += [_text(f',"{name}":'), value]
    select = sa.select(
        sa.bindparam("batch_key", type_=sa.String),
        sa.bindparam("kind", type_=sa.String),
        _text(scope),
        sa.bindparam("run_id", type_=sa.String),
        journaled.c.sku,
        journaled.c.entity_id,
        link,
        sa.func.compress(_joined([*pieces, _text("}")]), type_=sa.LargeBinary),
        _text(""),  # set by Journal.after
    ).where(link.in_(sa.bindparam("links", expanding=True)))
    j = t.batch_journal
    if dialect == "sqlite":
        return (
            sqlite.insert(j)
            .from_select(ENTRY_COLUMNS, select)
            .on_conflict_do_nothing(index_elements=["batch_key", "link_id"])
        )
    return (
        mysql.insert(j).from_select(ENTRY_COLUMNS, select).on_duplicate_key_update(journal_id=j.c.journal_id)
    )


@functools.lru_cache(maxsize=16)
def _fingerprint(t: MagentoTables, varchar: tuple[int, ...], dialect: str) -> sa.ColumnElement[str]:
    """The digest of a journal row's product's rows now, of the parts its scope covers (timestamps left out).

    Per part its row count and the sum of the CRC32 of its rows (each row as a JSON array: NULL and 'null',
    1 and '1' stay apart), hashed (MD5) by the database.
    """
    j = t.batch_journal
    digests: dict[str, sa.ColumnElement[str]] = {}
    for name, part in _correlated_parts(t, varchar, dialect, j.c.link_id, j.c.sku).items():
        if part.digested:
            n = sa.cast(sa.func.count(), sa.String)
            row = sa.func.crc32(sa.func.json_array(*part.digested))  # 3x cheaper than CONCAT of CASTs
            total = sa.cast(sa.func.coalesce(sa.func.sum(row), 0), sa.String)
            rows = part.rows if part.digest_rows is None else part.digest_rows
            counted = rows.with_only_columns(_joined([_text(f"{name}:"), n, _text(":"), total]))
            digests[name] = counted.scalar_subquery()
    pieces: list[sa.ColumnElement[str]] = []
    for digest in digests.values():
        pieces += [_text(";"), digest] if pieces else [digest]
    text = sa.case((j.c.scope == "sync", digests["sync"]), else_=_joined(pieces))
    return _text(FINGERPRINT_MARK) + sa.func.substr(sa.func.md5(text, type_=sa.String), 1, 31)


def _prepare(conn: sa.Connection) -> None:
    """Give the connection what the journal's statements need.

    SQLite gets CRC32, MD5 and COMPRESS as MySQL has them; MariaDB's JSON_ARRAYAGG is cut at
    group_concat_max_len (1 MB by default): raised.
    """
    if conn.dialect.name == "sqlite":
        ensure_crc32(conn)
        raw = conn.connection.dbapi_connection
        raw.create_function(  # type: ignore[union-attr]
            "md5",
            1,
            lambda text: (
                None if text is None else hashlib.md5(str(text).encode(), usedforsecurity=False).hexdigest()
            ),
            deterministic=True,
        )
        raw.create_function(  # type: ignore[union-attr]
            "compress",
            1,
            lambda text: None if text is None else compress(str(text).encode()),
            deterministic=True,
        )
    elif getattr(conn.dialect, "is_mariadb", False):
        conn.exec_driver_sql("SET SESSION group_concat_max_len = 4294967295")


def _varchar(attrs: AttributeIds) -> tuple[int, ...]:
    return tuple(sorted(attrs.varchar_codes().values()))


# ------------------------------------------------------------------------------------------------------
# Recording


@dataclass
class Journal:
    """The journal entries one transaction writes under `batch_key`.

    `before` (ahead of the rows' change) inserts each product's entry with its before-image, `after` (once
    everything is written) digests what the transaction left into every entry it journaled. A product the
    batch journaled before keeps its first before-image (a re-run of the batch, a product journaled by an
    earlier chunk) unless that entry was reverted since; a revert's entry is replaced.
    """

    t: MagentoTables
    attrs: AttributeIds
    batch_key: str
    run_id: str
    kind: str = BATCH
    links: set[int] = field(default_factory=set)
    prepared: bool = False

    def before(self, conn: sa.Connection, products: pd.DataFrame) -> None:
        """Journal these products before their rows change.

        Columns sku, entity_id, link_id, scope (`gallery` when absent). A journal row per product, its
        before-image built by the database (one INSERT ... SELECT per scope and IN list).
        """
        if products.empty:
            return
        if not self.prepared:
            _prepare(conn)
            self.prepared = True
        products = products.drop_duplicates("link_id")
        scopes = products["scope"] if "scope" in products else pd.Series("gallery", index=products.index)
        scope_of = dict(zip(products["link_id"].astype(int), scopes.astype(str), strict=True))
        widened = self._clear_stale(conn, scope_of)
        params = {"batch_key": self.batch_key, "kind": self.kind, "run_id": self.run_id}
        for scope in sorted(set(scope_of.values())):
            insert = _insert_entries(self.t, _varchar(self.attrs), conn.dialect.name, scope)
            links = sorted(link for link, s in scope_of.items() if s == scope)
            for part in in_chunks(links, LINK_LIST):
                conn.execute(insert, {**params, "links": part})
        if widened:
            self._keep_sync_parts(conn, widened)
        self.links.update(scope_of)

    def after(self, conn: sa.Connection) -> None:
        """The fingerprint of what the transaction left, into every entry it journaled."""
        if not self.links:
            return
        j = self.t.batch_journal
        fingerprint = _fingerprint(self.t, _varchar(self.attrs), conn.dialect.name)
        for part in in_chunks(sorted(self.links), LINK_LIST):
            conn.execute(
                sa.update(j)
                .where(j.c.batch_key == self.batch_key, j.c.link_id.in_(part))
                .values(after_fingerprint=fingerprint)
            )

    def _clear_stale(self, conn: sa.Connection, scopes: dict[int, str]) -> dict[int, bytes]:
        """Delete these products' stale entries, returning the images of the sync-only ones.

        Stale: the entries reverted since or that a revert wrote, and the sync-only entries of products now
        journaled whole (a later chunk changes their gallery: a spelling rewrite, a re-run). The latter's
        images are returned (link -> blob: the sync state they hold is the one kept).
        """
        j = self.t.batch_journal
        stale: list[int] = []
        widened: dict[int, int] = {}
        for part in in_chunks(sorted(scopes), LINK_LIST):
            query = sa.select(j.c.journal_id, j.c.link_id, j.c.scope, j.c.kind, j.c.reverted_by).where(
                j.c.batch_key == self.batch_key, j.c.link_id.in_(part)
            )
            for journal_id, link, scope, kind, reverted_by in conn.execute(query):
                if reverted_by is not None or kind == REVERT:
                    stale.append(int(journal_id))
                elif scope == "sync" and scopes[int(link)] == "gallery":
                    widened[int(journal_id)] = int(link)
        former: dict[int, bytes] = {}
        for ids in in_chunks(sorted(widened), LINK_LIST):
            query = sa.select(j.c.journal_id, j.c.before_image).where(j.c.journal_id.in_(ids))
            former.update({widened[int(row[0])]: bytes(row[1]) for row in conn.execute(query)})
        for ids in in_chunks([*stale, *widened], LINK_LIST):
            conn.execute(sa.delete(j).where(j.c.journal_id.in_(ids)))
        return former

    def _keep_sync_parts(self, conn: sa.Connection, former: dict[int, bytes]) -> None:
        """The widened entries' new before-images with their former sync part (the state before the batch)."""
        j = self.t.batch_journal
        where = sa.and_(j.c.batch_key == self.batch_key, j.c.link_id.in_(sorted(former)))
        rows = conn.execute(sa.select(j.c.link_id, j.c.before_image).where(where)).all()
        blobs = []
        for link, blob in rows:
            image = decode(bytes(blob))
            image["sync"] = decode(former[int(link)]).get("sync", [])
            blobs.append(encode(image))
        bulk_sql.update(
            conn,
            j,
            {"batch_key": self.batch_key, "link_id": [int(link) for link, _ in rows]},
            {"before_image": blobs},
        )


def fingerprints(
    conn: sa.Connection, t: MagentoTables, attrs: AttributeIds, batch_key: str, links: list[int]
) -> dict[int, str]:
    """Link id -> the fingerprint of the product's rows now, for these products' entries under `batch_key`.

    Of the parts each entry's scope covers; one statement per IN list.
    """
    _prepare(conn)
    j = t.batch_journal
    fingerprint = _fingerprint(t, _varchar(attrs), conn.dialect.name)
    out: dict[int, str] = {}
    for part in in_chunks(sorted(set(links)), LINK_LIST):
        query = sa.select(j.c.link_id, fingerprint).where(j.c.batch_key == batch_key, j.c.link_id.in_(part))
        out.update({int(link): str(digest) for link, digest in conn.execute(query)})
    return out


# ------------------------------------------------------------------------------------------------------
# Restoring


def _scoped(products: pd.DataFrame) -> Iterator[tuple[tuple[str, ...], pd.DataFrame]]:
    """(parts, products) per scope of the products (column `scope`, `gallery` when absent)."""
    scopes = products["scope"] if "scope" in products else pd.Series("gallery", index=products.index)
    for scope, group in products.groupby(scopes.to_numpy(), sort=True):
        yield SCOPES[str(scope)], group


def _delete_current(
    conn: sa.Connection, t: MagentoTables, attrs: AttributeIds, products: pd.DataFrame
) -> None:
    """Delete every journaled row of these products, set-based.

    The rows deleted are those a before-image of their scope holds.
    """
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
    """Insert a set of before-images' rows, ids included, then the products' updated_at.

    The rows: gallery rows no product kept, links, values, ETags, roles, sync state.
    """
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
    """What a revert did.

    The products restored, those skipped because they changed since the batch, and how many had been
    reverted already (a second revert restores nothing).
    """

    batch_key: str
    reverted: pd.DataFrame  # sku, entity_id
    skipped: pd.DataFrame  # sku, entity_id
    already_reverted: int
    forced: bool

    @property
    def changed_entity_ids(self) -> list[int]:
        """The entity ids of the products restored, sorted and distinct."""
        return sorted(set(self.reverted["entity_id"].astype(int)))

    def counts(self) -> dict[str, int]:
        """The revert's counts: products reverted, skipped as changed since, already reverted."""
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
    """Restore the products a batch wrote to their before-images, where they are still what the batch left.

    All of them with `force`; chunk by chunk, in one transaction each under the writer lock.
    """
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
    older = pending[~pending["after_fingerprint"].astype(str).str.startswith(FINGERPRINT_MARK)]
    if len(older):
        raise RevertRefused(
            f"batch {batch_key}: journaled by an earlier version of the pipeline (journal format 1, "
            f"{len(older)} products), which this version cannot restore: restore a database backup, or "
            "revert with the version that wrote it"
        )
    t, attrs = db.tables, db.attribute_ids()
    reverted: list[pd.DataFrame] = []
    skipped: list[pd.DataFrame] = []
    with db.writer_lock() as lock:
        for chunk in _parts(pending, max(1, chunk_size)):
            with lock.transaction() as conn:
                now = fingerprints(conn, t, attrs, batch_key, chunk["link_id"].astype(int).tolist())
                choice = choose_restores(chunk, now, force=force)
                skipped.append(choice.skipped)
                todo = choice.restore
                if todo.empty:
                    continue
                blobs = _blobs(conn, t, todo["journal_id"].astype(int).tolist())
                todo = todo.assign(before_image=todo["journal_id"].astype(int).map(blobs))
                journal = Journal(t, attrs, REVERT_PREFIX + batch_key, run_id, kind=REVERT)
                journal.before(conn, todo)
                restore(conn, t, attrs, todo)
                forget_in(conn, t, todo["sku"].astype(str).tolist())  # what was applied is undone
                journal.after(conn)
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
    """The frame's first skus, comma-separated (`...` when there are more, `-` when none)."""
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
