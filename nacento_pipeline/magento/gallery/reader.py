"""Bulk reads of the gallery state of a chunk of products: gallery rows, store-level rows, roles, sync state.

Each read is one statement per IN list (a chunk of SKUs fits one), never one per product or image.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.delta.model import (
    GALLERY_COLUMNS,
    OTHER_MEDIA_COLUMNS,
    ROLE_STATE_COLUMNS,
    STORE_STATE_COLUMNS,
    SYNC_STATE_COLUMNS,
    MagentoState,
)
from nacento_pipeline.core.frames import REJECTION_COLUMNS, ROLE_CODES, empty_frame
from nacento_pipeline.core.paths import canonical_values
from nacento_pipeline.magento.catalog import in_chunks, read_products
from nacento_pipeline.magento.database import AttributeIds, ensure_crc32
from nacento_pipeline.magento.schema import MagentoTables

IMAGE_MEDIA_TYPE = "image"


def unindexed(column: sa.ColumnElement) -> sa.ColumnElement:
    """`column + 0`: keeps planners without statistics (SQLite) off an index that matches nearly every row.

    Every gallery row has the media_gallery attribute; kept off that index, the products' links drive the
    join.
    """
    return column + 0


@dataclass(frozen=True)
class ChunkState:
    """What Magento holds for a chunk of SKUs; frames follow core.delta.model's *_COLUMNS."""

    products: pd.DataFrame
    gallery: pd.DataFrame
    roles: pd.DataFrame
    sync_state: pd.DataFrame
    warnings: pd.DataFrame
    store_values: pd.DataFrame = field(default_factory=lambda: empty_frame(STORE_STATE_COLUMNS))
    stores: dict[str, int] = field(default_factory=dict)
    role_codes: tuple[str, ...] = ROLE_CODES
    other_media: pd.DataFrame = field(default_factory=lambda: empty_frame(OTHER_MEDIA_COLUMNS))

    def as_magento_state(self) -> MagentoState:
        """The chunk's state as the MagentoState the delta reads (warnings left out)."""
        return MagentoState(
            self.products,
            self.gallery,
            self.roles,
            self.sync_state,
            self.store_values,
            self.stores,
            self.role_codes,
            self.other_media,
        )

    def fingerprint(self) -> str:
        """A digest of everything the delta reads about the chunk: equal digests, equal deltas.

        It covers products, gallery rows with their ETags and link counts, store-level rows, role values,
        sync state and stores.

        Row order does not matter (rows are hashed one by one and the hashes summed), so two reads of an
        unchanged chunk agree whatever order the database returns the rows in.
        """
        digest = hashlib.blake2b(digest_size=16)
        for name, frame in (
            ("products", self.products),
            ("gallery", self.gallery),
            ("roles", self.roles),
            ("sync_state", self.sync_state),
            ("store_values", self.store_values),
            ("other_media", self.other_media),
        ):
            digest.update(f"{name}:{_frame_digest(frame)};".encode())
        digest.update(repr(sorted(self.stores.items())).encode())
        return digest.hexdigest()


def _frame_digest(frame: pd.DataFrame) -> str:
    """Order-independent digest of a frame's rows: row count, columns and the sum of the row hashes."""
    if frame.empty:
        return f"0|{','.join(map(str, frame.columns))}"
    rows = pd.util.hash_pandas_object(frame.astype(object), index=False).to_numpy(dtype="uint64")
    return f"{len(frame)}|{','.join(map(str, frame.columns))}|{int(rows.sum(dtype='uint64'))}"


def _driver_rows(conn: sa.Connection, query: sa.Select) -> list[tuple]:
    """The rows of `query` as the driver returns them (its cursor's tuples).

    For large reads whose columns need no conversion (ints, text; a flag as 0/1): SQLAlchemy's Row objects
    cost more than the query.
    """
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall()) if result.returns_rows else []
    finally:
        result.close()


def _frame(rows: list, columns: Iterable[str]) -> pd.DataFrame:
    columns = list(columns)
    # Plain tuples: pandas probing SQLAlchemy Row objects for attributes costs more than the query.
    if not rows:
        return empty_frame(tuple(columns))
    return pd.DataFrame(rows if type(rows[0]) is tuple else [tuple(r) for r in rows], columns=columns)


def _gallery_query(
    tables: MagentoTables, attrs: AttributeIds, links: Sequence[int] | sa.BindParameter
) -> sa.Select:
    """Image rows linked to these product links, in read_gallery's columns and their order.

    With their store-0 values, stored ETags, whether we own them and how many products each row is linked
    to.
    """
    mg, val, vte, meta = (
        tables.media_gallery,
        tables.media_gallery_value,
        tables.value_to_entity,
        tables.gallery_meta,
    )
    link = tables.link
    others = vte.alias("links_of_row")
    linked = (
        sa.select(sa.func.count())
        .select_from(others)
        .where(others.c.value_id == vte.c.value_id)
        .scalar_subquery()
    )  # products linked to the row: an index range on value_to_entity's key
    return (
        sa.select(
            vte.c[link].label("link_id"),
            mg.c.value_id,
            mg.c.value,
            val.c.record_id,
            val.c.label,
            val.c.position,
            val.c.disabled,
            meta.c.s3_etag,
            meta.c.record_id.is_not(None).label("owned"),
            linked.label("links"),
        )
        .select_from(vte)
        # Images only: videos and other media types are not the PIM's, never updated or purged here. A row
        # disabled at row level is not there for Magento (Gallery::createBatchBaseSelect reads disabled = 0).
        .join(
            mg,
            sa.and_(
                mg.c.value_id == vte.c.value_id,
                unindexed(mg.c.attribute_id) == attrs.media_gallery,
                mg.c.media_type == IMAGE_MEDIA_TYPE,
                mg.c.disabled == 0,
            ),
        )
        .outerjoin(
            val, sa.and_(val.c.value_id == vte.c.value_id, val.c[link] == vte.c[link], val.c.store_id == 0)
        )
        .outerjoin(meta, meta.c.record_id == val.c.record_id)
        .where(vte.c[link].in_(links))
    )


def _other_media_query(
    tables: MagentoTables, attrs: AttributeIds, links: Sequence[int] | sa.BindParameter
) -> sa.Select:
    """Gallery rows of these product links that are no images (videos), with their store-0 position.

    Only the rows Magento shows (row not disabled).
    """
    mg, val, vte = tables.media_gallery, tables.media_gallery_value, tables.value_to_entity
    link = tables.link
    return (
        sa.select(vte.c[link], mg.c.value, mg.c.media_type, val.c.position)
        .select_from(vte)
        .join(
            mg,
            sa.and_(
                mg.c.value_id == vte.c.value_id,
                unindexed(mg.c.attribute_id) == attrs.media_gallery,
                mg.c.media_type != IMAGE_MEDIA_TYPE,
                mg.c.disabled == 0,
            ),
        )
        .outerjoin(
            val, sa.and_(val.c.value_id == vte.c.value_id, val.c[link] == vte.c[link], val.c.store_id == 0)
        )
        .where(vte.c[link].in_(links))
    )


def read_other_media(
    conn: sa.Connection, tables: MagentoTables, attrs: AttributeIds, link_to_entity: dict[int, int]
) -> pd.DataFrame:
    """The products' gallery rows that are no images (OTHER_MEDIA_COLUMNS).

    Their positions count when new images are placed, and their values may not be written as images.
    """
    frame = _rows_by_link(
        conn,
        lambda part: _other_media_query(tables, attrs, part),
        link_to_entity,
        ["link_id", "value", "media_type", "position"],
    )
    if frame is None:
        return empty_frame(OTHER_MEDIA_COLUMNS)
    return frame[list(OTHER_MEDIA_COLUMNS)].reset_index(drop=True)


def _rows_by_link(
    conn: sa.Connection,
    query_of: Callable[[list[int]], sa.Select],
    link_to_entity: dict[int, int],
    columns: list[str],
) -> pd.DataFrame | None:
    """The rows of `query_of(links)` for these product links, one statement per part of the links.

    Returned as a frame of `columns` (the first being link_id) with their entity_id; None when there is none.
    """
    rows: list[tuple] = []
    for part in in_chunks(sorted(link_to_entity)):
        rows.extend(_driver_rows(conn, query_of(part)))
    frame = _frame(rows, columns)
    if frame.empty:
        return None
    frame["entity_id"] = frame["link_id"].astype("int64").map(link_to_entity)
    return frame


def _store_rows_query(tables: MagentoTables, links: Sequence[int] | sa.BindParameter) -> sa.Select:
    """Store-level (store_id > 0) value rows of these product links' images."""
    mg, val = tables.media_gallery, tables.media_gallery_value
    return (
        sa.select(
            val.c[tables.link],
            val.c.value_id,
            val.c.store_id,
            val.c.record_id,
            val.c.label,
            val.c.position,
            val.c.disabled,
        )
        .join(mg, sa.and_(mg.c.value_id == val.c.value_id, mg.c.media_type == IMAGE_MEDIA_TYPE))
        .where(val.c[tables.link].in_(links), val.c.store_id > 0)
    )


def _roles_query(
    tables: MagentoTables, attrs: AttributeIds, links: Sequence[int] | sa.BindParameter
) -> sa.Select:
    """Role and role-label values of these product links in every store."""
    vc = tables.varchar
    return sa.select(vc.c[tables.link], vc.c.attribute_id, vc.c.store_id, vc.c.value).where(
        unindexed(vc.c.attribute_id).in_(list(attrs.varchar_codes().values())), vc.c[tables.link].in_(links)
    )


def _sync_state_query(tables: MagentoTables, skus: Sequence[str] | sa.BindParameter) -> sa.Select:
    st = tables.sku_sync_state
    return sa.select(*(st.c[name] for name in SYNC_STATE_COLUMNS)).where(st.c.sku.in_(skus))


def _stores_query(tables: MagentoTables) -> sa.Select:
    return sa.select(tables.store.c.code, tables.store.c.store_id)


def read_gallery(
    conn: sa.Connection, tables: MagentoTables, attrs: AttributeIds, link_to_entity: dict[int, int]
) -> pd.DataFrame:
    """Image rows linked to these products with their store-0 values and stored ETags (GALLERY_COLUMNS).

    `owned` says the product's store-0 value row has a nacento_media_gallery_meta row (this pipeline or the
    PHP connector wrote it); `links` counts the products linked to the media_gallery row (more than one only
    for rows the PHP connector shared between products).
    """
    if not link_to_entity:
        return empty_frame(GALLERY_COLUMNS)
    rows: list[tuple] = []
    for part in in_chunks(sorted(link_to_entity)):
        rows.extend(_driver_rows(conn, _gallery_query(tables, attrs, part)))
    columns = [
        "link_id",
        "value_id",
        "value",
        "record_id",
        "label",
        "position",
        "disabled",
        "stored_etag",
        "owned",
        "links",
    ]
    frame = _frame(rows, columns)
    if frame.empty:
        return empty_frame(GALLERY_COLUMNS)
    frame["entity_id"] = frame["link_id"].astype("int64").map(link_to_entity)
    frame["value"] = frame["value"].astype(object).where(frame["value"].notna(), "").astype(str)
    frame["canonical"] = canonical_values(frame["value"])
    frame["record_id"] = pd.to_numeric(frame["record_id"]).fillna(0).astype("int64")
    frame["stored_etag"] = (
        frame["stored_etag"].astype(object).where(frame["stored_etag"].notna(), "").astype(str)
    )
    frame["owned"] = frame["owned"].fillna(False).astype(bool)
    frame["links"] = pd.to_numeric(frame["links"]).fillna(1).astype("int64")
    return frame[list(GALLERY_COLUMNS)].reset_index(drop=True)


def read_store_values(
    conn: sa.Connection, tables: MagentoTables, attrs: AttributeIds, link_to_entity: dict[int, int]
) -> pd.DataFrame:
    """Store-level (store_id > 0) value rows of these products' images (STORE_STATE_COLUMNS)."""
    frame = _rows_by_link(
        conn,
        lambda part: _store_rows_query(tables, part),
        link_to_entity,
        ["link_id", "value_id", "store_id", "record_id", "label", "position", "disabled"],
    )
    if frame is None:
        return empty_frame(STORE_STATE_COLUMNS)
    return frame[list(STORE_STATE_COLUMNS)].reset_index(drop=True)


def read_roles(
    conn: sa.Connection, tables: MagentoTables, attrs: AttributeIds, link_to_entity: dict[int, int]
) -> pd.DataFrame:
    """Values of the role attributes and their `*_label` attributes in every store (ROLE_STATE_COLUMNS)."""
    code_of = {aid: code for code, aid in attrs.varchar_codes().items()}
    frame = _rows_by_link(
        conn,
        lambda part: _roles_query(tables, attrs, part),
        link_to_entity,
        ["link_id", "attribute_id", "store_id", "value"],
    )
    if frame is None:
        return empty_frame(ROLE_STATE_COLUMNS)
    frame["role"] = frame["attribute_id"].astype("int64").map(code_of)
    frame["store_id"] = frame["store_id"].astype("int64")
    frame["value"] = frame["value"].astype(object)
    return frame[list(ROLE_STATE_COLUMNS)].reset_index(drop=True)


def read_stores(conn: sa.Connection, tables: MagentoTables) -> dict[str, int]:
    """Store code -> store_id of every store view (the admin store 0 excluded)."""
    return {str(code): int(sid) for code, sid in conn.execute(_stores_query(tables)) if int(sid) != 0}


def read_store_websites(conn: sa.Connection, tables: MagentoTables) -> dict[str, str]:
    """Store view code -> its website's code (the admin store 0 excluded).

    A store whose website row is missing is left out.
    """
    st, w = tables.store, tables.website
    query = (
        sa.select(st.c.code, w.c.code).join(w, w.c.website_id == st.c.website_id).where(st.c.store_id != 0)
    )
    return {str(store): str(website) for store, website in conn.execute(query)}


def read_sync_state(conn: sa.Connection, tables: MagentoTables, skus: Iterable[str]) -> pd.DataFrame:
    """nacento_sku_sync_state rows of these SKUs (SYNC_STATE_COLUMNS)."""
    wanted = list(dict.fromkeys(skus))
    rows: list[pd.DataFrame] = []
    for part in in_chunks(wanted):
        rows.extend(conn.execute(_sync_state_query(tables, part)).all())
    frame = _frame(rows, SYNC_STATE_COLUMNS)
    if len(frame):
        # *_ci collations match other spellings; `wanted` is unique: an index lookup per row
        frame = frame[pd.Index(wanted).get_indexer(frame["sku"]) >= 0]
    return frame.reset_index(drop=True)


def read_chunk_state(
    conn: sa.Connection,
    tables: MagentoTables,
    attrs: AttributeIds,
    skus: Iterable[str],
    stores: dict[str, int] | None = None,
) -> ChunkState:
    """Everything the delta needs about a chunk of SKUs (a constant number of statements)."""
    skus = list(dict.fromkeys(skus))
    lookup = read_products(conn, tables, skus)
    usable = lookup.products[lookup.products["error"] == ""]
    link_to_entity = dict(zip(usable["link_id"].astype(int), usable["entity_id"].astype(int), strict=True))
    return ChunkState(
        products=lookup.products,
        gallery=read_gallery(conn, tables, attrs, link_to_entity),
        roles=read_roles(conn, tables, attrs, link_to_entity),
        sync_state=read_sync_state(conn, tables, set(skus)),
        warnings=lookup.warnings if len(lookup.warnings) else empty_frame(REJECTION_COLUMNS),
        store_values=read_store_values(conn, tables, attrs, link_to_entity),
        stores=read_stores(conn, tables) if stores is None else stores,
        role_codes=tuple(attrs.roles),
        other_media=read_other_media(conn, tables, attrs, link_to_entity),
    )


# ------------------------------------------------------------------------------------------------------
# The fingerprint of a chunk's state in one statement (the writer's re-check under its lock)

# Dialects whose SQL can digest rows: MySQL/MariaDB's CRC32, and SQLite's once the connection has it.
FINGERPRINT_DIALECTS = ("mysql", "mariadb", "sqlite")
_NULL = "\x00"  # stands for NULL inside a digested row (CONCAT would drop or propagate it)


def state_fingerprint(
    conn: sa.Connection,
    tables: MagentoTables,
    attrs: AttributeIds,
    skus: Iterable[str],
    products: pd.DataFrame,
) -> str:
    """A digest of the rows the delta of a chunk of `skus` depends on, computed by the database.

    `products` are the chunk's products as read_chunk_state found them. One aggregate statement: count and
    sum of a CRC32 per row, for each kind of row. Other dialects: the digest of a fresh read
    (ChunkState.fingerprint).

    The rows are those `read_chunk_state` reads: the products carrying the SKUs (and, for SKUs without a
    usable product, their near misses), the gallery rows of the products with their store-0 values and ETags,
    the links of those rows to any product, the store-level rows, the role values, the SKUs' sync state and
    the store views. Equal before and after, the chunk's delta is unchanged.
    """
    skus = list(dict.fromkeys(str(s).strip() for s in skus))
    if conn.dialect.name not in FINGERPRINT_DIALECTS:
        return read_chunk_state(conn, tables, attrs, skus).fingerprint()
    ensure_crc32(conn)
    usable = products[products["error"] == ""]
    found = set(usable["sku"].astype(str))
    missing = sorted({s.casefold() for s in skus if s not in found})
    links = sorted(set(usable["link_id"].astype(int).tolist()))
    query = _fingerprint_statement(
        tables, attrs.media_gallery, tuple(sorted(attrs.varchar_codes().items())), bool(missing)
    )
    params: dict[str, list] = {"skus": skus, "links": links, **({"missing": missing} if missing else {})}
    rows = sorted((str(name), int(n), int(total or 0)) for name, n, total in conn.execute(query, params))
    return hashlib.blake2b(repr(rows).encode(), digest_size=16).hexdigest()


@functools.lru_cache(maxsize=16)
def _fingerprint_statement(
    tables: MagentoTables,
    media_gallery: int,
    varchar: tuple[tuple[str, int], ...],
    near_misses: bool,
) -> sa.CompoundSelect:
    """The fingerprint statement of a schema, built once, not once per chunk.

    Its SKUs and links are bound at execution (`skus`, `links` and, with near misses, `missing`): building
    and keying the statement costs more than running it.
    """
    attrs = AttributeIds(media_gallery, dict(varchar))
    return sa.union_all(*_fingerprint_parts(tables, attrs, near_misses))


def row_crc32(columns: Iterable[sa.ColumnElement]) -> sa.ColumnElement[int]:
    """CRC32 of a row's columns joined by `|`, NULL spelt apart (the databases' part of every digest of rows).

    SQLite needs `ensure_crc32` on the connection first.
    """
    fields: list[sa.ColumnElement[str]] = [sa.func.coalesce(sa.cast(c, sa.String), _NULL) for c in columns]
    return sa.func.crc32(functools.reduce(lambda left, right: left + sa.literal("|") + right, fields))


def _digest(name: str, query: sa.Select) -> sa.Select:
    """(name, rows, sum of CRC32 of each row's columns) over the rows of `query`."""
    sub = query.subquery()
    return sa.select(sa.literal(name), sa.func.count(), sa.func.sum(row_crc32(sub.c))).select_from(sub)


def _fingerprint_parts(tables: MagentoTables, attrs: AttributeIds, near_misses: bool) -> list[sa.Select]:
    p, vte, link = tables.product, tables.value_to_entity, tables.link
    skus: sa.BindParameter[list[str]] = sa.bindparam("skus", expanding=True)
    links: sa.BindParameter[list[int]] = sa.bindparam("links", expanding=True)
    staging = [p.c.created_in, p.c.updated_in] if "created_in" in p.c else []
    found: sa.ColumnElement[bool] = p.c.sku.in_(skus)
    if near_misses:
        found = sa.or_(
            found, sa.func.lower(sa.func.trim(p.c.sku)).in_(sa.bindparam("missing", expanding=True))
        )
    shared = sa.select(vte.c.value_id, vte.c[link]).where(
        vte.c.value_id.in_(sa.select(vte.c.value_id).where(vte.c[link].in_(links)).scalar_subquery())
    )
    return [
        _digest("products", sa.select(p.c.sku, p.c.entity_id, p.c[link], *staging).where(found)),
        _digest("gallery", _gallery_query(tables, attrs, links)),
        _digest("links", shared),
        _digest("store_values", _store_rows_query(tables, links)),
        _digest("other_media", _other_media_query(tables, attrs, links)),
        _digest("roles", _roles_query(tables, attrs, links)),
        _digest("sync_state", _sync_state_query(tables, skus)),
        _digest("stores", _stores_query(tables)),
    ]
