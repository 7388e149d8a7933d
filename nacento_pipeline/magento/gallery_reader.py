"""Bulk reads of the gallery state of a chunk of products: gallery rows, roles, shared paths, sync state.

Each read is one statement per IN list (a chunk of SKUs fits one), never one per product or image.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.delta import GALLERY_COLUMNS, ROLE_STATE_COLUMNS, SYNC_STATE_COLUMNS
from nacento_pipeline.core.frames import REJECTION_COLUMNS, empty_frame
from nacento_pipeline.core.paths import legacy_variant
from nacento_pipeline.magento.catalog import in_chunks, read_products
from nacento_pipeline.magento.database import AttributeIds
from nacento_pipeline.magento.schema import MagentoTables

SHARED_PATH_COLUMNS = ("canonical", "value_id", "value")


IMAGE_MEDIA_TYPE = "image"

def _unindexed(column: sa.ColumnElement) -> sa.ColumnElement:
    """`column + 0`: keeps planners without statistics (SQLite) off an index that matches nearly every row
    (every gallery row has the media_gallery attribute), so the products' links drive the join."""
    return column + 0


def canonical_values(values: pd.Series) -> pd.Series:
    """Vectorised core.paths.canonical_of: trimmed, exactly one leading slash."""
    return "/" + values.astype(str).str.strip().str.lstrip("/")


@dataclass(frozen=True)
class ChunkState:
    """What Magento holds for a chunk of SKUs; frames follow core.delta's *_COLUMNS."""

    products: pd.DataFrame
    gallery: pd.DataFrame
    roles: pd.DataFrame
    sync_state: pd.DataFrame
    warnings: pd.DataFrame


def _frame(rows: list, columns: Iterable[str]) -> pd.DataFrame:
    columns = list(columns)
    # Plain tuples: pandas probing SQLAlchemy Row objects for attributes costs more than the query.
    return pd.DataFrame([tuple(r) for r in rows], columns=columns) if rows else empty_frame(tuple(columns))


def read_gallery(
    conn: sa.Connection, tables: MagentoTables, attrs: AttributeIds, link_to_entity: dict[int, int]
) -> pd.DataFrame:
    """Gallery rows linked to these products at store 0 (GALLERY_COLUMNS), with their stored ETags."""
    if not link_to_entity:
        return empty_frame(GALLERY_COLUMNS)
    mg, val, vte, meta = tables.media_gallery, tables.media_gallery_value, tables.value_to_entity, tables.gallery_meta
    link = tables.link
    rows = []
    for part in in_chunks(sorted(link_to_entity)):
        query = (
            sa.select(
                vte.c[link].label("link_id"), mg.c.value_id, mg.c.value, val.c.record_id, val.c.label,
                val.c.position, val.c.disabled, meta.c.s3_etag,
            )
            .select_from(vte)
            # Images only: videos and other media types are not the PIM's, never updated or purged here.
            .join(mg, sa.and_(mg.c.value_id == vte.c.value_id, _unindexed(mg.c.attribute_id) == attrs.media_gallery,
                              mg.c.media_type == IMAGE_MEDIA_TYPE))
            .outerjoin(
                val,
                sa.and_(val.c.value_id == vte.c.value_id, val.c[link] == vte.c[link], val.c.store_id == 0),
            )
            .outerjoin(meta, meta.c.record_id == val.c.record_id)
            .where(vte.c[link].in_(part))
        )
        rows.extend(conn.execute(query).all())
    columns = ["link_id", "value_id", "value", "record_id", "label", "position", "disabled", "stored_etag"]
    frame = _frame(rows, columns)
    if frame.empty:
        return empty_frame(GALLERY_COLUMNS)
    frame["entity_id"] = frame["link_id"].astype("int64").map(link_to_entity)
    frame["value"] = frame["value"].astype(object).where(frame["value"].notna(), "").astype(str)
    frame["canonical"] = canonical_values(frame["value"])
    frame["record_id"] = pd.to_numeric(frame["record_id"]).fillna(0).astype("int64")
    frame["stored_etag"] = frame["stored_etag"].astype(object).where(frame["stored_etag"].notna(), "").astype(str)
    return frame[list(GALLERY_COLUMNS)].reset_index(drop=True)


def read_roles(
    conn: sa.Connection, tables: MagentoTables, attrs: AttributeIds, link_to_entity: dict[int, int]
) -> pd.DataFrame:
    """Store-0 values of the four role attributes (ROLE_STATE_COLUMNS; value None for a NULL row)."""
    if not link_to_entity:
        return empty_frame(ROLE_STATE_COLUMNS)
    vc = tables.varchar
    code_of = {aid: code for code, aid in attrs.roles.items()}
    rows = []
    for part in in_chunks(sorted(link_to_entity)):
        query = sa.select(vc.c[tables.link], vc.c.attribute_id, vc.c.value).where(
            _unindexed(vc.c.attribute_id).in_(list(code_of)), vc.c.store_id == 0, vc.c[tables.link].in_(part)
        )
        rows.extend(conn.execute(query).all())
    frame = _frame(rows, ["link_id", "attribute_id", "value"])
    if frame.empty:
        return empty_frame(ROLE_STATE_COLUMNS)
    frame["entity_id"] = frame["link_id"].astype("int64").map(link_to_entity)
    frame["role"] = frame["attribute_id"].astype("int64").map(code_of)
    frame["value"] = frame["value"].astype(object)
    return frame[list(ROLE_STATE_COLUMNS)].reset_index(drop=True)


def read_shared_paths(
    conn: sa.Connection, tables: MagentoTables, attrs: AttributeIds, values: Iterable[str], *,
    above_value_id: int | None = None,
) -> pd.DataFrame:
    """Existing media_gallery rows for canonical values, looked up under BOTH variants (with/without slash).

    One row per canonical value (SHARED_PATH_COLUMNS): the canonical-form row if any, else the oldest.
    Magento has no index on `value`, so this scans media_gallery, unless `above_value_id` limits the
    search to rows inserted after that id (the writer's re-select of the rows it just inserted).
    """
    wanted = list(dict.fromkeys(values))
    if not wanted:
        return empty_frame(SHARED_PATH_COLUMNS)
    variants = list(dict.fromkeys([*wanted, *(legacy_variant(v) for v in wanted)]))
    mg = tables.media_gallery
    rows = []
    for part in in_chunks(variants):
        query = sa.select(mg.c.value_id, mg.c.value).where(
            _unindexed(mg.c.attribute_id) == attrs.media_gallery, mg.c.value.in_(part),
            mg.c.media_type == IMAGE_MEDIA_TYPE,
        )
        if above_value_id is not None:
            query = query.where(mg.c.value_id > above_value_id)
        rows.extend(conn.execute(query).all())
    return _pick_shared(_frame(rows, ["value_id", "value"]), set(variants))


def _pick_shared(frame: pd.DataFrame, variants: set[str]) -> pd.DataFrame:
    """One row per canonical value: the canonical-form row if any, else the oldest (SHARED_PATH_COLUMNS)."""
    if frame.empty:
        return empty_frame(SHARED_PATH_COLUMNS)
    frame["value"] = frame["value"].astype(str)
    # A case-insensitive collation may return other spellings: keep exact variants only.
    frame = frame[frame["value"].isin(variants)]
    frame["canonical"] = canonical_values(frame["value"])
    frame["is_canonical"] = frame["value"] == frame["canonical"]
    frame = frame.sort_values(["canonical", "is_canonical", "value_id"], ascending=[True, False, True])
    frame = frame.drop_duplicates("canonical")
    frame["value_id"] = frame["value_id"].astype("int64")
    return frame[list(SHARED_PATH_COLUMNS)].reset_index(drop=True)


def read_sync_state(conn: sa.Connection, tables: MagentoTables, skus: Iterable[str]) -> pd.DataFrame:
    """nacento_sku_sync_state rows of these SKUs (SYNC_STATE_COLUMNS)."""
    st = tables.sku_sync_state
    wanted = list(dict.fromkeys(skus))
    rows = []
    for part in in_chunks(wanted):
        query = sa.select(*(st.c[name] for name in SYNC_STATE_COLUMNS)).where(st.c.sku.in_(part))
        rows.extend(conn.execute(query).all())
    frame = _frame(rows, SYNC_STATE_COLUMNS)
    if len(frame):
        frame = frame[frame["sku"].isin(set(wanted))]  # *_ci collations match other spellings
    return frame.reset_index(drop=True)


def read_chunk_state(conn: sa.Connection, tables: MagentoTables, attrs: AttributeIds, skus: Iterable[str]) -> ChunkState:
    """Everything the delta needs about a chunk of SKUs (four or five statements)."""
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
    )


class SharedPathIndex:
    """The media_gallery rows of a whole batch's paths, read in one scan of the table.

    Magento has no index on `media_gallery.value`, so looking new paths up chunk by chunk scans the table
    once per chunk; a batch of many chunks reads it once here instead. Rows a chunk inserts are staged and
    become visible to later chunks only once that chunk's transaction has committed.
    """

    def __init__(self, shared: pd.DataFrame) -> None:
        self._rows: dict[str, tuple[int, str]] = {
            c: (int(v), str(s)) for c, v, s in zip(shared["canonical"], shared["value_id"], shared["value"],
                                                    strict=True)
        }
        self._staged: dict[str, tuple[int, str]] = {}

    @classmethod
    def load(cls, conn: sa.Connection, tables: MagentoTables, attrs: AttributeIds, values: Iterable[str],
             page_rows: int = 50_000) -> SharedPathIndex:
        wanted = set(values)
        variants = wanted | {legacy_variant(v) for v in wanted}
        mg = tables.media_gallery
        query = sa.select(mg.c.value_id, mg.c.value).where(
            _unindexed(mg.c.attribute_id) == attrs.media_gallery, mg.c.media_type == IMAGE_MEDIA_TYPE,
        )
        rows: list = []
        result = conn.execution_options(stream_results=True, yield_per=page_rows).execute(query)
        for page in result.partitions(page_rows):
            rows.extend(r for r in page if r[1] in variants)
        return cls(_pick_shared(_frame(rows, ["value_id", "value"]), variants))

    def lookup(self, values: Iterable[str]) -> pd.DataFrame:
        """Known rows for these canonical values (SHARED_PATH_COLUMNS); values not known are left out."""
        found = [(c, *self._rows[c]) for c in dict.fromkeys(values) if c in self._rows]
        if not found:
            return empty_frame(SHARED_PATH_COLUMNS)
        frame = pd.DataFrame(found, columns=["canonical", "value_id", "value"])
        frame["value_id"] = frame["value_id"].astype("int64")
        return frame[list(SHARED_PATH_COLUMNS)]

    def stage(self, canonical: str, value_id: int, value: str) -> None:
        self._staged[canonical] = (int(value_id), value)

    def commit(self) -> None:
        self._rows.update(self._staged)
        self._staged.clear()

    def discard(self) -> None:
        self._staged.clear()

    def __len__(self) -> int:
        return len(self._rows)

