"""Parse and validate the bunch files of one batch into one table of images plus rejections and warnings.

Formats are those of the registry (core.batch.formats): gallery CSV (row per image), Magento's native import
CSV, the connector's JSON bulk payload and JSON Lines. Each file is read by its format's reader into raw image
rows that one vectorised validator checks (batch_validate); this module reads the files in order, assembles
the chunks and applies the batch rules:

- an *item* is one SKU with its images: a JSON object / JSONL line / native CSV row, or every row of one SKU
  within one gallery CSV file. An item with an empty SKU or no images is rejected as a whole.
- Duplicate SKUs: the last valid item wins (files in counter order, then items in file order); each
  superseded item gets a warning. Images of superseded items are not written.
- The same path twice in the winning item: the last one is kept, with a warning.
- `invalid_skus`: SKUs whose winning item has an image rejected as an error (the writer skips their roles);
  `payload_values`: every normalisable path of the winning items, valid or not (never purged).
- A file that cannot be read (bad UTF-8, malformed JSON, CSV without required columns) contributes nothing
  but one rejection row with field "file"; `parse_batch(..., fail_fast=True)` raises BatchFileError instead.
- Store-level values (`stores` of JSON images, native-CSV `store_view_code` rows) follow their item: those of
  a superseded item or of a rejected image are not kept; a store-level problem rejects its image. Several
  values for one (SKU, path, store): the last one given wins per field, roles are united.
- `role_scope`: the roles each native-CSV SKU sets (Magento's import sets only the role columns given);
  `default_mode`: "append" when every bunch file is a native import CSV (Magento's import never removes).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nacento_pipeline.core.batch.formats import NATIVE_KIND, ReadContext, format_of
from nacento_pipeline.core.batch.input_limits import InputLimits
from nacento_pipeline.core.batch.readers.csv import CSV_CHUNK_ROWS
from nacento_pipeline.core.batch.readers.native import merge_native_images
from nacento_pipeline.core.batch.source import BunchSource, utf8_checked
from nacento_pipeline.core.batch.validation import (
    ITEM_COLUMNS,
    RawChunk,
    empty_rejections,
    items_frame,
    validate_images,
    validate_store_values,
)
from nacento_pipeline.core.delta.modes import APPEND
from nacento_pipeline.core.delta.roles import ordered_roles
from nacento_pipeline.core.errors import BatchFileError
from nacento_pipeline.core.frames import (
    IMAGE_COLUMNS,
    REJECTION_COLUMNS,
    ROLE_SCOPE_COLUMNS,
    STORE_VALUE_COLUMNS,
)

__all__ = ["BatchFileError", "BunchSource", "ParsedBatch", "parse_batch"]

_ITEM_KEYS = ["file_idx", "item_no", "sku"]


@dataclass
class ParsedBatch:
    """The batch as one table of valid images plus rejections/warnings, JSON request ids and counts.

    Valid images: frames.IMAGE_COLUMNS; rejections/warnings: frames.REJECTION_COLUMNS; the request ids are
    those of JSON payloads; counts: see `parse_batch`.

    `store_values` (frames.STORE_VALUE_COLUMNS) overrides images in store views; `role_scope`
    (frames.ROLE_SCOPE_COLUMNS) limits the roles of native-CSV SKUs; `default_mode` is the batch's sync mode
    when its settings do not say otherwise ("append" for native import CSVs only, else None).
    """

    images: pd.DataFrame
    rejections: pd.DataFrame
    request_ids: tuple[str, ...]
    stats: dict[str, int]
    invalid_sku_set: frozenset[str] = field(default=frozenset(), repr=False)
    rejected_values: pd.DataFrame | None = field(default=None, repr=False)  # sku, value, seq
    store_values: pd.DataFrame = field(default_factory=lambda: _empty_store_values(), repr=False)
    role_scope: pd.DataFrame = field(default_factory=lambda: _empty_role_scope(), repr=False)
    default_mode: str | None = None
    _payload_values: pd.DataFrame | None = field(default=None, init=False, repr=False)

    @property
    def invalid_skus(self) -> frozenset[str]:
        """SKUs whose winning item had at least one image rejected as an error.

        The writer skips their roles.
        """
        return self.invalid_sku_set

    @property
    def payload_values(self) -> pd.DataFrame:
        """(sku, value) of every normalisable path of the winning items, valid or rejected for another field.

        Replace mode never purges these, so an image whose label was too long is not deleted.
        """
        if self._payload_values is None:
            parts = [self.images[["sku", "value", "seq"]]]
            if self.rejected_values is not None:
                parts.append(self.rejected_values[["sku", "value", "seq"]])
            both = pd.concat(parts, ignore_index=True).sort_values("seq", kind="stable")
            self._payload_values = (
                both[["sku", "value"]].drop_duplicates().reset_index(drop=True).astype("str")
            )
        return self._payload_values

    @property
    def file_errors(self) -> pd.DataFrame:
        """Rejection rows of whole unreadable files (field "file")."""
        return self.rejections.loc[self.rejections["field"] == "file"]


def _empty_store_values() -> pd.DataFrame:
    types = {"position": "Int64", "disabled": "boolean", "label": "object", "line": "int64", "seq": "int64"}
    return pd.DataFrame({name: pd.Series(dtype=types.get(name, "str")) for name in STORE_VALUE_COLUMNS})


def _empty_role_scope() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="str") for name in ROLE_SCOPE_COLUMNS})


def _read_source(source: BunchSource, context: ReadContext) -> Iterator[RawChunk]:
    """The raw chunks of one bunch file, read by its registered format once known to be UTF-8.

    The formats are registered in core.batch.formats.
    """
    bunch_format = format_of(source.name)
    yield from bunch_format.read(utf8_checked(source.chunks(), source.name), context)


def _file_rejection(file_idx: int, exc: BatchFileError) -> pd.DataFrame:
    row = {
        "severity": "error",
        "file": exc.file,
        "line": exc.line,
        "sku": "",
        "field": "file",
        "value": "",
        "reason": exc.reason,
        "file_idx": file_idx,
        "item_no": 0,
        "level": "file",
        "image_seq": -1,
    }
    return pd.concat([empty_rejections(), pd.DataFrame([row])], ignore_index=True)


def _item_rejections(items: pd.DataFrame) -> pd.DataFrame:
    bad = items.loc[items["problem_field"] != ""]
    return pd.DataFrame(
        {
            "severity": "error",
            "file": bad["file"],
            "line": bad["line"],
            "sku": bad["sku"],
            "field": bad["problem_field"],
            "value": bad["problem_value"].str.slice(0, 200),
            "reason": bad["problem_reason"],
            "file_idx": bad["file_idx"],
            "item_no": bad["item_no"],
            "level": "item",
            "image_seq": -1,
        }
    )


def _warnings(
    rows: pd.DataFrame, field_name: str, values: pd.Series, reasons: pd.Series | str
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "severity": "warning",
            "file": rows["file"],
            "line": rows["line"],
            "sku": rows["sku"],
            "field": field_name,
            "value": values.astype("str").str.slice(0, 200),
            "reason": reasons,
            "file_idx": rows["file_idx"],
            "item_no": rows["item_no"],
            "level": "item",
            "image_seq": -1,
        }
    )


_INT_COLUMNS = ("file_idx", "item_no", "line", "seq", "position")


def _typed_empty(columns: list[str]) -> pd.DataFrame:
    types = {
        name: "Int64"
        if name == "position"
        else "int64"
        if name in _INT_COLUMNS
        else "bool"
        if name in ("disabled", "from_store")
        else "str"
        for name in columns
    }
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in types.items()})


def _concat(parts: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else empty


@dataclass
class _Parts:
    """The frames read from bunch files, gathered until the batch is assembled."""

    images: list[pd.DataFrame] = field(default_factory=list)
    rejections: list[pd.DataFrame] = field(default_factory=list)
    values: list[pd.DataFrame] = field(default_factory=list)
    items: list[pd.DataFrame] = field(default_factory=list)
    stores: list[pd.DataFrame] = field(default_factory=list)
    scopes: list[pd.DataFrame] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    image_rows: int = 0
    ignored_rows: int = 0

    def add(self, other: _Parts) -> None:
        """Take in the parts of one more file (read whole, so an unreadable file contributes nothing)."""
        self.images += other.images
        self.rejections += other.rejections
        self.values += other.values
        self.items += other.items
        self.stores += other.stores
        self.scopes += other.scopes
        self.request_ids += [r for r in other.request_ids if r not in self.request_ids]
        self.image_rows += other.image_rows
        self.ignored_rows += other.ignored_rows


def parse_batch(
    files: Iterable[BunchSource],
    *,
    list_separator: str = ",",
    chunk_rows: int = CSV_CHUNK_ROWS,
    fail_fast: bool = False,
    read: Callable[[BunchSource, ReadContext], Iterator[RawChunk]] | None = None,
    limits: InputLimits | None = None,
    custom_roles: Callable[[], tuple[str, ...]] | None = None,
) -> ParsedBatch:
    """Parse, validate and merge the bunch files of one batch, given in counter order.

    stats: files, files_unreadable, items_seen, image_rows (raw images read), skus (winning items), images,
    rejected_images, rejected_items, warnings, duplicate_skus (superseded items), duplicate_paths,
    store_view_rows_ignored, invalid_skus, store_values. `read` replaces the registered formats' readers (an
    Akeneo export's files are read by core.akeneo.export with its mapping). `limits`
    (core.batch.input_limits): a file with a field longer than the field cap, or that takes the batch past the
    image-row cap, is unreadable. `custom_roles` gives the shop's custom media_image attribute codes (asked
    once, and only when a native CSV has columns beyond the standard ones): their columns are image columns
    of native CSVs, as in Magento's import.
    """
    limits = limits or InputLimits()
    roles = functools.cache(custom_roles) if custom_roles is not None else (lambda: ())
    batch = _Parts()
    kinds: list[str] = []
    stats = dict.fromkeys(("files", "files_unreadable"), 0)
    for file_idx, source in enumerate(files):
        stats["files"] += 1
        context = ReadContext(source.name, file_idx, list_separator, chunk_rows, custom_roles=roles)
        try:
            batch.add(
                _read_file(
                    source, context, first_seq=batch.image_rows, read=read or _read_source, limits=limits
                )
            )
        except BatchFileError as exc:
            if fail_fast:
                raise
            batch.rejections.append(_file_rejection(file_idx, exc))
            stats["files_unreadable"] += 1
        if context.kind:
            kinds.append(context.kind)
    stats.update(image_rows=batch.image_rows, store_view_rows_ignored=batch.ignored_rows)
    parsed = _assemble(batch, stats)
    if kinds and len(kinds) == stats["files"] and all(kind == NATIVE_KIND for kind in kinds):
        parsed.default_mode = APPEND
    return parsed


def _check_limits(raw: pd.DataFrame, file: str, rows_before: int, limits: InputLimits) -> None:
    """BatchFileError when a raw image row has a field over the cap or the rows pass the image-row cap.

    A field longer than the cap: the error names the first such line and field. The image-row cap: when these
    rows take the batch past it.
    """
    if rows_before + len(raw) > limits.batch_images:
        line = int(raw["line"].iloc[max(0, limits.batch_images - rows_before)]) if len(raw) else 0
        raise BatchFileError(
            file,
            f"the batch has more than {limits.batch_images} image rows (limit "
            "NACENTO_MAX_BATCH_IMAGES); split it into several batches",
            line=line,
        )
    for name in LIMITED_FIELDS:
        if name not in raw.columns or not len(raw):
            continue
        lengths = raw[name].str.len()
        over = lengths > limits.field_chars
        if over.any():
            first = int(over.to_numpy().argmax())
            raise BatchFileError(
                file,
                f"field {name} is {int(lengths.iloc[first])} characters long, over the field length limit "
                f"of {limits.field_chars} (NACENTO_MAX_FIELD_CHARS)",
                line=int(raw["line"].iloc[first]),
            )


# The text fields of a raw image row the field-length cap applies to (the numbers are parsed to int).
LIMITED_FIELDS = ("sku", "file_path", "label", "position", "disabled", "roles")


def _read_file(
    source: BunchSource,
    context: ReadContext,
    first_seq: int,
    read: Callable[[BunchSource, ReadContext], Iterator[RawChunk]],
    limits: InputLimits,
) -> _Parts:
    """Read and validate one bunch file chunk by chunk; its raw images are numbered from `first_seq`."""
    parts = _Parts()
    for chunk in read(source, context):
        _check_limits(chunk.raw, context.file, first_seq + parts.image_rows, limits)
        seq = first_seq + parts.image_rows
        chunk.raw["seq"] = np.arange(seq, seq + len(chunk.raw), dtype="int64")
        parts.image_rows += len(chunk.raw)
        _add_chunk(parts, chunk)
    return parts


def _add_chunk(parts: _Parts, chunk: RawChunk) -> None:
    """Validate one chunk's images (and store-level values) and keep what it yields."""
    checked = validate_images(chunk.raw, keep_position_given=chunk.merge_paths)
    images = checked.images
    parts.rejections.append(checked.rejections)
    parts.values.append(checked.rejected_values)
    if chunk.stores is not None:
        images, stores, store_rejections, dropped = _with_store_values(images, chunk.stores, chunk.raw)
        parts.rejections.append(store_rejections)
        parts.stores.append(stores)
        parts.values.append(dropped)
    parts.images.append(merge_native_images(images) if chunk.merge_paths else images.assign(from_store=False))
    parts.items.append(chunk.items)
    if chunk.scope is not None:
        parts.scopes.append(chunk.scope)
    parts.ignored_rows += chunk.ignored_rows
    if chunk.request_id and chunk.request_id not in parts.request_ids:
        parts.request_ids.append(chunk.request_id)


def _with_store_values(
    images: pd.DataFrame,
    stores: pd.DataFrame,
    raw: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Validate a chunk's store-level values against its validated images.

    Returns (images without those rejected for a store-level value, store rows of the remaining images with
    their canonical value, rejections, the dropped images' (file_idx, item_no, sku, value, seq)).
    """
    checked = validate_store_values(stores, raw)
    rejected = images["seq"].isin(checked.rejected_seqs)
    dropped = images.loc[rejected, ["file_idx", "item_no", "sku", "value", "seq"]]
    images = images.loc[~rejected].reset_index(drop=True)
    rows = checked.rows.merge(images[["seq", "value"]], on="seq", how="inner")
    return images, rows, checked.rejections, dropped


def _winner_filter(winners: pd.DataFrame, any_superseded: bool) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A function keeping the rows of a frame (file_idx, item_no, sku) that belong to a winning item.

    Rows only exist for valid items, so without superseded items every row wins (no copy is made).
    """
    if not any_superseded:
        return lambda frame: frame
    file_of = pd.Series(winners["file_idx"].to_numpy(), index=winners["sku"].to_numpy())
    item_of = pd.Series(winners["item_no"].to_numpy(), index=winners["sku"].to_numpy())

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        wins = (frame["sku"].map(file_of) == frame["file_idx"]) & (
            frame["sku"].map(item_of) == frame["item_no"]
        )
        return frame.loc[wins]

    return keep


@dataclass(frozen=True)
class _Items:
    """The items of a batch: each once, the winner of each SKU and the superseded valid items.

    Each item once (`problem_*` set for rejected ones), the winner of each SKU (its last valid item) and the
    valid items a later one of their SKU supersedes.
    """

    seen: pd.DataFrame
    winners: pd.DataFrame
    superseded: pd.DataFrame


def _assemble(parts: _Parts, stats: dict[str, int]) -> ParsedBatch:
    items = _items(parts.items)
    keep = _winner_filter(items.winners, any_superseded=len(items.superseded) > 0)
    images, repeated = _winning_images(parts.images, keep)
    rejection_parts = [*parts.rejections, _item_rejections(items.seen), *_superseded_warnings(items)]
    if len(repeated):
        rejection_parts.append(
            _warnings(
                repeated, "file_path", repeated["value"], "same path twice in the item: the last one is kept"
            )
        )
    rejected_values = _rejected_values(parts.values, keep)
    store_values = (
        _store_values(keep(pd.concat(parts.stores, ignore_index=True)), images)
        if parts.stores
        else _empty_store_values()
    )
    parts.stores.clear()
    role_scope = _role_scope(parts.scopes, keep)

    rejections = _concat(rejection_parts, empty_rejections())
    rejections = rejections.sort_values(["file_idx", "line", "image_seq"], kind="stable")
    image_errors = rejections.loc[(rejections["level"] == "image") & (rejections["severity"] == "error")]
    invalid_skus = frozenset(str(s) for s in keep(image_errors)["sku"].unique() if s)
    is_error = rejections["severity"] == "error"
    stats.update(
        items_seen=len(items.seen),
        skus=len(items.winners),
        images=len(images),
        rejected_images=int(image_errors["image_seq"].nunique()),
        rejected_items=int(((rejections["level"] == "item") & is_error).sum()),
        warnings=int((~is_error).sum()),
        duplicate_skus=len(items.superseded),
        duplicate_paths=len(repeated),
        invalid_skus=len(invalid_skus),
        store_values=len(store_values),
    )
    return ParsedBatch(
        images,
        _public_rejections(rejections),
        tuple(parts.request_ids),
        stats,
        invalid_skus,
        rejected_values,
        store_values,
        role_scope,
    )


def _items(item_parts: list[pd.DataFrame]) -> _Items:
    items = _concat(item_parts, items_frame({name: [] for name in ITEM_COLUMNS}))
    # Gallery CSV items (all rows of a SKU in a file) span chunks: keep their first line.
    items = items.drop_duplicates(_ITEM_KEYS, keep="first")
    valid = items.loc[items["problem_field"] == ""].sort_values(["file_idx", "item_no"], kind="stable")
    winners = valid.drop_duplicates("sku", keep="last")
    return _Items(items, winners, valid.loc[~valid.index.isin(winners.index)])


def _superseded_warnings(items: _Items) -> list[pd.DataFrame]:
    """One warning per superseded item, naming the item that wins."""
    superseded = items.superseded
    if not len(superseded):
        return []
    later = superseded[["sku"]].merge(items.winners[["sku", "file", "line"]], on="sku", how="left")
    reasons = (
        "duplicate SKU: superseded by the item in " + later["file"] + " line " + later["line"].astype("str")
    )
    return [
        _warnings(superseded, "sku", superseded["sku"], pd.Series(reasons.to_numpy(), index=superseded.index))
    ]


def _winning_images(
    image_parts: list[pd.DataFrame],
    keep: Callable[[pd.DataFrame], pd.DataFrame],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(winning items' images in payload order, rows dropped as a path repeated later in their item).

    The images as IMAGE_COLUMNS. Empties `image_parts` (the chunk frames) before the copies.
    """
    columns = list(IMAGE_COLUMNS) + ["file_idx", "item_no", "from_store"]
    images = keep(_concat([p[columns] for p in image_parts if len(p)], _typed_empty(columns)))
    image_parts.clear()
    if not images["seq"].is_monotonic_increasing:
        images = images.sort_values("seq", kind="stable")
    images = _without_store_images_listed_elsewhere(images)
    repeated = images.duplicated(["sku", "value"], keep="last")
    repeated_rows = images.loc[repeated]
    images = images.loc[~repeated] if repeated.any() else images
    images = (
        images[list(IMAGE_COLUMNS)]
        .reset_index(drop=True)
        .astype(
            {
                "sku": "str",
                "value": "str",
                "label": "object",
                "position": "Int64",
                "disabled": "boolean",
                "roles": "str",
                "file": "str",
                "line": "int64",
                "seq": "int64",
            }
        )
    )
    return images, repeated_rows


def _without_store_images_listed_elsewhere(images: pd.DataFrame) -> pd.DataFrame:
    """A native store-view row's image joins the gallery only when its item lists it nowhere else.

    The item's default-scope row may sit in an earlier chunk.
    """
    if not images["from_store"].any():
        return images
    from_store = images["from_store"].astype(bool)
    listed = images.loc[~from_store, ["sku", "value"]].drop_duplicates().assign(_listed=True)
    flags = images[["sku", "value"]].merge(listed, on=["sku", "value"], how="left")["_listed"]
    extra = from_store.to_numpy() & (
        flags.fillna(False).astype(bool).to_numpy()
        | images.duplicated(["sku", "value"], keep="first").to_numpy()
    )
    return images.loc[~extra]


def _rejected_values(
    value_parts: list[pd.DataFrame], keep: Callable[[pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """(sku, value, seq) of the winning items' paths that were rejected. Empties `value_parts`."""
    values = keep(_concat(value_parts, _typed_empty(_ITEM_KEYS + ["value", "seq"])))
    value_parts.clear()
    return values[["sku", "value", "seq"]].reset_index(drop=True)


def _role_scope(
    scope_parts: list[pd.DataFrame], keep: Callable[[pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """ROLE_SCOPE_COLUMNS of the winning native-CSV items."""
    scope = keep(_concat(scope_parts, _typed_empty(_ITEM_KEYS))) if scope_parts else None
    if scope is None or scope.empty:
        return _empty_role_scope()
    return (
        scope.drop_duplicates("sku", keep="last")[list(ROLE_SCOPE_COLUMNS)]
        .reset_index(drop=True)
        .astype("str")
    )


def _public_rejections(rejections: pd.DataFrame) -> pd.DataFrame:
    """REJECTION_COLUMNS only: the internal keys (batch_validate.REJECTION_KEYS) stop here."""
    return (
        rejections[list(REJECTION_COLUMNS)]
        .reset_index(drop=True)
        .astype(
            {
                "severity": "str",
                "file": "str",
                "line": "int64",
                "sku": "str",
                "field": "str",
                "value": "str",
                "reason": "str",
            }
        )
    )


def _store_values(rows: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """STORE_VALUE_COLUMNS of the winning items' store rows whose image is in the batch's images.

    A row older than its (sku, value) image belongs to a superseded duplicate path and is dropped. Several
    rows for one (sku, value, store): per field the last one given wins, roles are united
    (core.delta.roles.ordered_roles order).
    """
    if rows.empty:
        return _empty_store_values()
    kept = images[["sku", "value", "seq"]].rename(columns={"seq": "_image_seq"})
    rows = rows.merge(kept, on=["sku", "value"], how="inner")
    rows = rows.loc[rows["seq"] >= rows["_image_seq"]].sort_values("seq", kind="stable")
    if rows.empty:
        return _empty_store_values()
    keys = ["sku", "value", "store"]
    merged = rows.groupby(keys, sort=False)[["label", "position", "disabled", "file", "line", "seq"]].last()
    named = rows[keys].assign(role=rows["roles"].astype(str).str.split("|")).explode("role")
    named = named[named["role"] != ""]
    united = named.groupby(keys, sort=False)["role"].agg(lambda codes: "|".join(ordered_roles(codes)))
    merged["roles"] = united.reindex(merged.index).fillna("").astype(str)
    merged = merged.reset_index().sort_values("seq", kind="stable")
    label = merged["label"].astype("object")
    return (
        merged[list(STORE_VALUE_COLUMNS)]
        .reset_index(drop=True)
        .assign(
            label=label.where(label.notna(), None).reset_index(drop=True),
        )
        .astype(
            {
                "sku": "str",
                "value": "str",
                "store": "str",
                "position": "Int64",
                "disabled": "boolean",
                "roles": "str",
                "file": "str",
                "line": "int64",
                "seq": "int64",
            }
        )
    )
