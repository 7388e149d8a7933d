"""ETag delta, the model: the request, Magento's state and the resulting delta, with their frames.

The batch side of a delta (DeltaRequest), Magento's side (MagentoState) and the result (GalleryDelta, read
through DeltaView), with the frames they carry described by the *_COLUMNS tuples below (other frames are
those of `core.frames`). The rules that compute a delta live in `core.delta.compute`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import pandas as pd

from nacento_pipeline.core.delta.modes import DEFAULT_SYNC_MODE, normalize_mode
from nacento_pipeline.core.frames import (
    DELTA_ACTIONS,
    DELTA_COLUMNS,
    EXTRA_VALUE_ROW_COLUMNS,
    REJECTION_COLUMNS,
    ROLE_CODES,
    ROLE_COLUMNS,
    SKU_COUNT_COLUMNS,
    SKU_RESULT_COLUMNS,
    STORE_WRITE_COLUMNS,
    WRITE_ACTIONS,
    empty_frame,
)

# --- Inputs read from Magento (magento.catalog / magento.gallery.reader) --------------------------------
# Products of the batch: sku (batch SKU), entity_id, link_id (entity_id, or row_id on Adobe Commerce),
# error ("" when usable; otherwise why the SKU must not be written, e.g. an ambiguous or near-miss SKU).
PRODUCT_COLUMNS = ("sku", "entity_id", "link_id", "error")
# Gallery state at store 0, one row per (product, media_gallery row) linked in value_to_entity:
# value as stored (with or without leading slash), canonical = canonical_of(value), record_id 0 when the
# product has no store-0 value row, stored_etag "" when nacento_media_gallery_meta has none, owned = a meta
# row exists (this pipeline or the PHP connector wrote the image), links = products linked to the row.
GALLERY_COLUMNS = (
    "entity_id",
    "value_id",
    "value",
    "canonical",
    "record_id",
    "label",
    "position",
    "disabled",
    "stored_etag",
    "owned",
    "links",
)
# Store-level (store_id > 0) value rows of the products' images.
STORE_STATE_COLUMNS = ("entity_id", "value_id", "store_id", "record_id", "label", "position", "disabled")
# Current values of the role attributes and their `*_label` attributes in every store
# (catalog_product_entity_varchar): value None when the row holds NULL.
ROLE_STATE_COLUMNS = ("entity_id", "role", "store_id", "value")
# nacento_sku_sync_state rows: last_batch_time is a naive UTC datetime (the batch's drop time).
SYNC_STATE_COLUMNS = ("sku", "entity_id", "last_batch_key", "last_batch_time", "last_status", "last_run_id")
PAYLOAD_VALUE_COLUMNS = ("sku", "value")
# Gallery rows of the products that are no images (videos: Magento_ProductVideo's `external-video`), never
# written here: value as stored, media_type, store-0 position (None when no store-0 value row).
OTHER_MEDIA_COLUMNS = ("entity_id", "value", "media_type", "position")

TOTAL_NAMES = ("skus_seen", "ok", "error", "stale", *SKU_COUNT_COLUMNS)


class DeltaInputError(ValueError):
    """An input frame lacks a contract column (names the frame and the column)."""

    def __init__(self, frame: str, column: str) -> None:
        super().__init__(f"{frame}: missing column {column!r}")
        self.frame = frame
        self.field = column


@dataclass(frozen=True)
class DeltaRequest:
    """The batch side of a delta, kept so a writer can recompute the delta of a chunk under its lock."""

    images: pd.DataFrame
    etags: pd.DataFrame
    invalid_skus: frozenset[str]
    payload_values: pd.DataFrame
    mode: str = DEFAULT_SYNC_MODE
    batch_time: datetime | None = None
    force: bool = False
    rejections: pd.DataFrame | None = None
    batch_key: str | None = (
        None  # breaks ties between batches of the same drop time (core.delta.images.stale_images)
    )
    store_values: pd.DataFrame | None = None  # STORE_VALUE_COLUMNS
    role_scope: pd.DataFrame | None = None  # ROLE_SCOPE_COLUMNS (None: every SKU manages all roles)
    # Remove an image even when it holds a role in a store view of a product in several store views (Magento's
    # DeleteValidator refuses that removal; by default the image is kept and reported).
    remove_store_role_images: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", normalize_mode(self.mode))

    @cached_property
    def skus(self) -> list[str]:
        """SKUs the request is about: those with images, then those whose every image was rejected.

        Worked out once per request: planning reads them many times, and a request's frames are never
        changed.
        """
        seen = self.images["sku"].astype(str).unique().tolist()
        known = set(seen)
        return seen + [s for s in rejected_only_skus(self.rejections, known)]

    def settings_only(self) -> DeltaRequest:
        """The request's settings (mode, batch key and time, flags) with empty frames.

        What a plan still reads once its chunks' requests are stored apart (resources.plan_store).
        """

        def empty(frame: pd.DataFrame | None) -> pd.DataFrame | None:
            return None if frame is None else frame.iloc[0:0]

        return replace(
            self,
            images=self.images.iloc[0:0],
            etags=self.etags.iloc[0:0],
            payload_values=self.payload_values.iloc[0:0],
            rejections=empty(self.rejections),
            store_values=empty(self.store_values),
            role_scope=empty(self.role_scope),
        )

    def for_skus(self, skus: Iterable[str]) -> DeltaRequest:
        """The request's rows of these SKUs (its ETags kept whole).

        Masks by hash lookups, fast on Arrow strings.
        """
        wanted = set(skus)
        index = pd.Index(list(wanted))

        def rows(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[index.get_indexer(frame["sku"]) >= 0]

        def only(frame: pd.DataFrame | None) -> pd.DataFrame | None:
            return None if frame is None else rows(frame)

        return replace(
            self,
            images=rows(self.images),
            payload_values=rows(self.payload_values),
            invalid_skus=frozenset(self.invalid_skus & wanted),
            rejections=only(self.rejections),
            store_values=only(self.store_values),
            role_scope=only(self.role_scope),
        )


def split_request(request: DeltaRequest, chunk_size: int) -> list[DeltaRequest]:
    """The request cut into chunks of `chunk_size` SKUs, each with only its own rows and ETags.

    One pass over each frame (group by chunk number), so splitting stays linear in the batch size.
    """
    skus = request.skus
    size = max(1, int(chunk_size))
    if len(skus) <= size:
        return [request] if skus else []
    return cut_request(request, size, skus)


def cut_request(request: DeltaRequest, chunk_size: int, skus: list[str] | None = None) -> list[DeltaRequest]:
    """split_request, but always cut: each part keeps only the rows of its own SKUs.

    Even when the request fits one part (a part then holds what split_request would give its chunks
    together).
    """
    return list(iter_cut_request(request, chunk_size, skus))


def iter_cut_request(
    request: DeltaRequest, chunk_size: int, skus: list[str] | None = None
) -> Iterator[DeltaRequest]:
    """cut_request one part at a time.

    Each part's rows are copied when it is reached, so only the request and one part exist at once (the
    frames are sorted by part once, as row positions, then sliced).
    """
    skus = request.skus if skus is None else skus
    size = max(1, int(chunk_size))
    if not skus:
        return
    count = (len(skus) + size - 1) // size
    index = pd.Index(skus)

    def slicer(frame: pd.DataFrame | None) -> Callable[[int], pd.DataFrame | None]:
        if frame is None:
            return lambda _: None
        numbers = chunk_numbers(frame["sku"], index, size).to_numpy(dtype="float64", na_value=np.nan)
        order = np.argsort(numbers, kind="stable")  # rows of no part (NaN) sort last, never reached
        bounds = np.searchsorted(numbers[order], np.arange(count + 1), side="left")
        return lambda i: frame.take(order[bounds[i] : bounds[i + 1]])

    images, payload, rejections = (
        slicer(request.images),
        slicer(request.payload_values),
        slicer(request.rejections),
    )
    store_values, role_scope = slicer(request.store_values), slicer(request.role_scope)
    etags = request.etags
    if etags["value"].duplicated(keep="last").any():
        etags = etags.drop_duplicates("value", keep="last")
    etag_values = pd.Index(etags["value"])
    invalid = request.invalid_skus
    for i in range(count):
        members = skus[i * size : (i + 1) * size]
        part_images = images(i)
        assert part_images is not None
        found = etag_values.get_indexer(pd.unique(part_images["value"]))
        yield replace(
            request,
            images=part_images,
            payload_values=payload(i),
            rejections=rejections(i),
            store_values=store_values(i),
            role_scope=role_scope(i),
            etags=etags.take(np.sort(found[found >= 0])),
            invalid_skus=frozenset(invalid.intersection(members)),
        )


def chunk_numbers(sku: pd.Series, skus: pd.Index, chunk_size: int) -> pd.Series:
    """The chunk of each value of `sku` when the unique SKUs `skus` are cut in order into chunks.

    Chunks of `chunk_size`; NaN for a SKU not among them. One hash lookup per row, no Python call per row.
    """
    positions = skus.get_indexer(sku)
    numbers = pd.Series(positions // max(1, int(chunk_size)), index=sku.index)
    return numbers.where(positions >= 0) if (positions < 0).any() else numbers


def rows_per_chunk(
    frame: pd.DataFrame, numbers: pd.Series, count: int, *, reindex: bool = False
) -> list[pd.DataFrame]:
    """The rows of `frame` in each of `count` chunks, in order, by their chunk number.

    `numbers`: chunk_numbers of its sku column; rows of no chunk are dropped. Each part keeps its rows' order;
    `reindex` numbers each part's rows from 0.
    """
    found = {int(k): g for k, g in frame.groupby(numbers, sort=False)} if len(frame) else {}
    parts = [found.get(i, frame.iloc[0:0]) for i in range(count)]
    return [part.reset_index(drop=True) for part in parts] if reindex else parts


@dataclass(frozen=True)
class GalleryDelta:
    """The plan: items, role and label changes, per-SKU results and store-level value rows to write.

    Their frames: items (DELTA_COLUMNS), role and label changes (ROLE_COLUMNS), per-SKU results
    (SKU_RESULT_COLUMNS), store-level value rows to write (STORE_WRITE_COLUMNS).
    """

    items: pd.DataFrame
    roles: pd.DataFrame
    sku_results: pd.DataFrame
    warnings: pd.DataFrame = field(default_factory=lambda: empty_frame(REJECTION_COLUMNS))
    request: DeltaRequest | None = None
    store_values: pd.DataFrame = field(default_factory=lambda: empty_frame(STORE_WRITE_COLUMNS))
    # SKUs of the batch no product carries (ambiguous and near-miss SKUs are errors of their own, not
    # unknown).
    unknown_skus: tuple[str, ...] = ()
    extra_value_rows: pd.DataFrame = field(default_factory=lambda: empty_frame(EXTRA_VALUE_ROW_COLUMNS))

    def with_warnings(self, extra: pd.DataFrame) -> GalleryDelta:
        """The same plan with more warning rows (REJECTION_COLUMNS)."""
        if extra.empty:
            return self
        warnings = pd.concat([w for w in (self.warnings, extra) if len(w)], ignore_index=True)
        return replace(self, warnings=warnings)

    def counts(self) -> dict[str, int]:
        """Rows per action (every action of DELTA_ACTIONS present, 0 when none)."""
        found = self.items["action"].value_counts()
        return {action: int(found.get(action, 0)) for action in DELTA_ACTIONS}

    @property
    def changed_entity_ids(self) -> list[int]:
        """Products whose gallery or roles this delta changes, sorted."""
        written = self.items.loc[self.items["action"].isin(WRITE_ACTIONS), "entity_id"]
        ids = set(written.astype("int64").tolist()) | set(self.roles["entity_id"].astype("int64").tolist())
        ids |= set(self.store_values["entity_id"].astype("int64").tolist())
        ids |= set(self.extra_value_rows["entity_id"].astype("int64").tolist())
        ids.discard(0)
        return sorted(ids)

    def totals(self) -> dict[str, int]:
        """Batch statistics with the connector's names."""
        return summarize(self.sku_results)


def sum_counts(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Rows per action of several deltas (their GalleryDelta.counts), every action of DELTA_ACTIONS in it."""
    totals = dict.fromkeys(DELTA_ACTIONS, 0)
    for counts in parts:
        for action, n in counts.items():
            totals[action] = totals.get(action, 0) + int(n)
    return totals


class DeltaView:
    """Reads like a GalleryDelta through its `delta` (a plan, a write result)."""

    delta: GalleryDelta

    @property
    def items(self) -> pd.DataFrame:
        """The delta's items (DELTA_COLUMNS)."""
        return self.delta.items

    @property
    def roles(self) -> pd.DataFrame:
        """The delta's role and label changes (ROLE_COLUMNS)."""
        return self.delta.roles

    @property
    def sku_results(self) -> pd.DataFrame:
        """The delta's per-SKU results (SKU_RESULT_COLUMNS)."""
        return self.delta.sku_results

    @property
    def warnings(self) -> pd.DataFrame:
        """The delta's warning rows (REJECTION_COLUMNS)."""
        return self.delta.warnings

    @property
    def changed_entity_ids(self) -> list[int]:
        """Products whose gallery or roles the delta changes, sorted."""
        return self.delta.changed_entity_ids

    @property
    def unknown_skus(self) -> tuple[str, ...]:
        """SKUs of the batch no product carries."""
        return self.delta.unknown_skus

    def counts(self) -> dict[str, int]:
        """The delta's rows per action (GalleryDelta.counts)."""
        return self.delta.counts()

    def totals(self) -> dict[str, int]:
        """The delta's totals (GalleryDelta.totals)."""
        return self.delta.totals()


def summarize(sku_results: pd.DataFrame) -> dict[str, int]:
    """skus_seen, ok, error, stale and the summed per-SKU counters of SKU_RESULT_COLUMNS."""
    status = sku_results["status"].value_counts()
    totals = {
        "skus_seen": len(sku_results),
        "ok": int(status.get("ok", 0)),
        "error": int(status.get("error", 0)),
        "stale": int(status.get("stale", 0)),
    }
    for name in TOTAL_NAMES[4:]:
        totals[name] = int(pd.to_numeric(sku_results[name]).sum()) if len(sku_results) else 0
    return totals


_SPLIT_FRAMES = ("items", "roles", "sku_results", "warnings", "store_values", "extra_value_rows")


def split_delta(delta: GalleryDelta, skus: list[str], chunk_size: int) -> list[GalleryDelta] | None:
    """The delta of `skus` cut into the deltas of its chunks of `chunk_size` SKUs (in order), without request.

    Each row goes to the chunk of its SKU, keeping its order. Every rule of a delta is per SKU (a product
    carries one SKU of a batch), so each part is the delta its chunk alone would have, and concat_deltas
    joins them back. None when a row names no SKU of `skus` (it would belong to no chunk).
    """
    size = max(1, int(chunk_size))
    count = (len(skus) + size - 1) // size
    chunk_of = {sku: i // size for i, sku in enumerate(skus)}
    if any(sku not in chunk_of for sku in delta.unknown_skus):
        return None
    index = pd.Index(skus)
    numbers = {name: chunk_numbers(getattr(delta, name)["sku"], index, size) for name in _SPLIT_FRAMES}
    if any(n.isna().any() for n in numbers.values()):
        return None
    parts = {
        name: rows_per_chunk(getattr(delta, name), numbers[name], count, reindex=True)
        for name in _SPLIT_FRAMES
    }
    unknown: list[list[str]] = [[] for _ in range(count)]
    for sku in delta.unknown_skus:
        unknown[chunk_of[sku]].append(sku)
    return [
        GalleryDelta(
            parts["items"][i],
            parts["roles"][i],
            parts["sku_results"][i],
            parts["warnings"][i],
            None,
            parts["store_values"][i],
            tuple(unknown[i]),
            parts["extra_value_rows"][i],
        )
        for i in range(count)
    ]


def concat_deltas(deltas: list[GalleryDelta], request: DeltaRequest | None = None) -> GalleryDelta:
    """One delta out of per-chunk deltas (chunks never share a SKU)."""
    if not deltas:
        return empty_delta(request)

    def cat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else empty_frame(columns)

    return GalleryDelta(
        items=cat([d.items for d in deltas], DELTA_COLUMNS),
        roles=cat([d.roles for d in deltas], ROLE_COLUMNS),
        sku_results=cat([d.sku_results for d in deltas], SKU_RESULT_COLUMNS),
        warnings=cat([d.warnings for d in deltas], REJECTION_COLUMNS),
        request=request,
        store_values=cat([d.store_values for d in deltas], STORE_WRITE_COLUMNS),
        unknown_skus=tuple(sku for d in deltas for sku in d.unknown_skus),
        extra_value_rows=cat([d.extra_value_rows for d in deltas], EXTRA_VALUE_ROW_COLUMNS),
    )


def empty_delta(request: DeltaRequest | None = None) -> GalleryDelta:
    """Return a delta with no rows (of `request`, when given)."""
    return GalleryDelta(
        empty_frame(DELTA_COLUMNS),
        empty_frame(ROLE_COLUMNS),
        empty_frame(SKU_RESULT_COLUMNS),
        request=request,
    )


def to_utc_naive(value: object) -> datetime | None:
    """Batch times are compared and stored as naive UTC datetimes."""
    if value is None or value is pd.NaT or (not isinstance(value, datetime) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(UTC).tz_localize(None)
    return ts.to_pydatetime()


@dataclass(frozen=True)
class MagentoState:
    """What Magento holds for the products of a request (frames of the *_COLUMNS above)."""

    products: pd.DataFrame
    gallery: pd.DataFrame
    roles: pd.DataFrame
    sync_state: pd.DataFrame | None = None
    store_values: pd.DataFrame | None = None
    stores: dict[str, int] = field(default_factory=dict)
    # The shop's role attributes (every media_image attribute; the four standard ones when not read)
    role_codes: tuple[str, ...] = ROLE_CODES
    other_media: pd.DataFrame | None = None  # OTHER_MEDIA_COLUMNS


def rejected_only_skus(rejections: pd.DataFrame | None, known: set[str]) -> list[str]:
    """SKUs every image of which was rejected with an error (they have no image row), not in `known`."""
    if rejections is None or rejections.empty:
        return []
    errors = rejections[(rejections["severity"] == "error") & (text_column(rejections["sku"]) != "")]
    return [s for s in dict.fromkeys(text_column(errors["sku"])) if s not in known]


def text_column(series: pd.Series) -> pd.Series:
    """A column as text: missing values become "" (string dtypes kept)."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("") if series.hasnans else series
    return series.astype("object").where(series.notna(), "").astype(str)
