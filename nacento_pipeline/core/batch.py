"""Parse and validate the bunch files of one batch into one table of images plus rejections and warnings.

Formats (drop convention): gallery CSV (row per image), Magento's native import CSV, the connector's JSON
bulk payload and JSON Lines. Every format becomes raw image rows that one vectorised validator checks
(batch_validate); this module reads the files in order, assembles the chunks and applies the batch rules:

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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nacento_pipeline.core.batch_csv import CSV_CHUNK_ROWS, GALLERY_REQUIRED, read_gallery_csv, sniff_header
from nacento_pipeline.core.batch_json import looks_like_json_lines, read_json_bulk, read_json_lines
from nacento_pipeline.core.batch_native import is_native_header, merge_native_images, read_native_csv
from nacento_pipeline.core.batch_source import BunchSource, open_binary, peek_first_line, utf8_checked
from nacento_pipeline.core.batch_validate import (
    ITEM_COLUMNS,
    RawChunk,
    empty_rejections,
    items_frame,
    validate_images,
    validate_store_values,
)
from nacento_pipeline.core.errors import BatchFileError
from nacento_pipeline.core.frames import (
    IMAGE_COLUMNS,
    REJECTION_COLUMNS,
    ROLE_CODES,
    ROLE_SCOPE_COLUMNS,
    STORE_VALUE_COLUMNS,
)
from nacento_pipeline.core.modes import APPEND
from nacento_pipeline.core.roles import role_text

__all__ = ["BatchFileError", "BunchSource", "ParsedBatch", "parse_batch"]

_ITEM_KEYS = ["file_idx", "item_no", "sku"]


@dataclass
class ParsedBatch:
    """The batch as one table of valid images (frames.IMAGE_COLUMNS) plus rejections/warnings
    (frames.REJECTION_COLUMNS), the request ids of JSON payloads, and counts (see `parse_batch`).

    `store_values` (frames.STORE_VALUE_COLUMNS) overrides images in store views; `role_scope`
    (frames.ROLE_SCOPE_COLUMNS) limits the roles of native-CSV SKUs; `default_mode` is the batch's sync mode
    when its settings do not say otherwise ("append" for native import CSVs only, else None)."""

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
        """SKUs whose winning item had at least one image rejected as an error: the writer skips their roles."""
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
            self._payload_values = (both[["sku", "value"]].drop_duplicates().reset_index(drop=True)
                                    .astype("str"))
        return self._payload_values

    @property
    def file_errors(self) -> pd.DataFrame:
        """Rejection rows of whole unreadable files (field "file")."""
        return self.rejections.loc[self.rejections["field"] == "file"]

    def raise_for_unreadable(self) -> None:
        """Raise BatchFileError for the first unreadable file, for callers that fail fast."""
        errors = self.file_errors
        if len(errors):
            row = errors.iloc[0]
            raise BatchFileError(str(row["file"]), str(row["reason"]), int(row["line"]))


def _empty_store_values() -> pd.DataFrame:
    types = {"position": "Int64", "disabled": "boolean", "label": "object", "line": "int64", "seq": "int64"}
    return pd.DataFrame({name: pd.Series(dtype=types.get(name, "str")) for name in STORE_VALUE_COLUMNS})


def _empty_role_scope() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="str") for name in ROLE_SCOPE_COLUMNS})


NATIVE_FORMAT = "native"
GALLERY_FORMAT = "gallery"


def csv_format(header: list[str], file: str) -> str:
    """GALLERY_FORMAT or NATIVE_FORMAT from a CSV's normalised header; BatchFileError when it is neither."""
    if "file_path" in header:
        missing = [name for name in GALLERY_REQUIRED if name not in header]
        if missing:
            raise BatchFileError(file, f"CSV header lacks required column(s): {', '.join(missing)}", line=1)
        return GALLERY_FORMAT
    if is_native_header(header):
        return NATIVE_FORMAT
    raise BatchFileError(
        file, "CSV header has neither `sku,file_path` (gallery CSV) nor `sku` with image columns "
        "(native import CSV)", line=1)


def _read_source(
    source: BunchSource, file_idx: int, list_separator: str, chunk_rows: int, formats: list[str],
) -> Iterator[RawChunk]:
    """The raw chunks of one bunch file; appends the file's format ("gallery", "native", "json") to `formats`."""
    ext = source.extension
    name = source.name
    chunks = utf8_checked(source.chunks(), name)
    if ext == "csv":
        first, chunks = peek_first_line(chunks)
        if not first.strip():
            raise BatchFileError(name, "CSV file is empty (no header line)", line=1)
        header = sniff_header(first, name)
        kind = csv_format(header, name)
        formats.append(kind)
        stream = open_binary(chunks)
        if kind == GALLERY_FORMAT:
            yield from read_gallery_csv(stream, name, file_idx, header, chunk_rows)
        else:
            yield from read_native_csv(stream, name, file_idx, header, list_separator, chunk_rows)
    elif ext == "jsonl":
        formats.append("json")
        yield from read_json_lines(open_binary(chunks), name, file_idx)
    elif ext == "json":
        formats.append("json")
        first, chunks = peek_first_line(chunks)
        if looks_like_json_lines(first):
            yield from read_json_lines(open_binary(chunks), name, file_idx)
        else:
            yield from read_json_bulk(open_binary(chunks), name, file_idx)
    else:
        raise BatchFileError(name, f"unsupported extension {ext!r} (expected csv, json or jsonl)")


def _file_rejection(file_idx: int, exc: BatchFileError) -> pd.DataFrame:
    row = {"severity": "error", "file": exc.file, "line": exc.line, "sku": "", "field": "file", "value": "",
           "reason": exc.reason, "file_idx": file_idx, "item_no": 0, "level": "file", "image_seq": -1}
    return pd.concat([empty_rejections(), pd.DataFrame([row])], ignore_index=True)


def _item_rejections(items: pd.DataFrame) -> pd.DataFrame:
    bad = items.loc[items["problem_field"] != ""]
    return pd.DataFrame({
        "severity": "error", "file": bad["file"], "line": bad["line"], "sku": bad["sku"],
        "field": bad["problem_field"], "value": bad["problem_value"].str.slice(0, 200),
        "reason": bad["problem_reason"], "file_idx": bad["file_idx"], "item_no": bad["item_no"],
        "level": "item", "image_seq": -1,
    })


def _warnings(rows: pd.DataFrame, field_name: str, values: pd.Series, reasons: pd.Series | str) -> pd.DataFrame:
    return pd.DataFrame({
        "severity": "warning", "file": rows["file"], "line": rows["line"], "sku": rows["sku"],
        "field": field_name, "value": values.astype("str").str.slice(0, 200), "reason": reasons,
        "file_idx": rows["file_idx"], "item_no": rows["item_no"], "level": "item", "image_seq": -1,
    })


_INT_COLUMNS = ("file_idx", "item_no", "line", "seq", "position")


def _typed_empty(columns: list[str]) -> pd.DataFrame:
    types = {name: "Int64" if name == "position" else "int64" if name in _INT_COLUMNS else "bool" if name in ("disabled", "from_store")
             else "str" for name in columns}
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in types.items()})


def _concat(parts: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else empty


def parse_batch(
    files: Iterable[BunchSource], *, list_separator: str = ",", chunk_rows: int = CSV_CHUNK_ROWS,
    fail_fast: bool = False,
) -> ParsedBatch:
    """Parse, validate and merge the bunch files of one batch, given in counter order.

    stats: files, files_unreadable, items_seen, image_rows (raw images read), skus (winning items), images,
    rejected_images, rejected_items, warnings, duplicate_skus (superseded items), duplicate_paths,
    store_view_rows_ignored, invalid_skus, store_values.
    """
    image_parts: list[pd.DataFrame] = []
    rejection_parts: list[pd.DataFrame] = []
    value_parts: list[pd.DataFrame] = []
    item_parts: list[pd.DataFrame] = []
    store_parts: list[pd.DataFrame] = []
    scope_parts: list[pd.DataFrame] = []
    formats: list[str] = []
    request_ids: list[str] = []
    stats = dict.fromkeys(("files", "files_unreadable", "image_rows", "store_view_rows_ignored"), 0)
    seq = 0
    for file_idx, source in enumerate(files):
        stats["files"] += 1
        file_images: list[pd.DataFrame] = []
        file_rejections: list[pd.DataFrame] = []
        file_values: list[pd.DataFrame] = []
        file_items: list[pd.DataFrame] = []
        file_stores: list[pd.DataFrame] = []
        file_scopes: list[pd.DataFrame] = []
        file_request_ids: list[str] = []
        file_seq, file_ignored = seq, 0
        try:
            for chunk in _read_source(source, file_idx, list_separator, chunk_rows, formats):
                raw = chunk.raw
                raw["seq"] = np.arange(file_seq, file_seq + len(raw), dtype="int64")
                file_seq += len(raw)
                checked = validate_images(raw, keep_position_given=chunk.merge_paths)
                images = checked.images
                file_rejections.append(checked.rejections)
                file_values.append(checked.rejected_values)
                if chunk.stores is not None:
                    images, stores, store_rejections, dropped = _with_store_values(images, chunk.stores, raw)
                    file_rejections.append(store_rejections)
                    file_stores.append(stores)
                    file_values.append(dropped)
                images = merge_native_images(images) if chunk.merge_paths else images.assign(from_store=False)
                file_images.append(images)
                file_items.append(chunk.items)
                if chunk.scope is not None:
                    file_scopes.append(chunk.scope)
                file_ignored += chunk.ignored_rows
                if chunk.request_id and chunk.request_id not in file_request_ids:
                    file_request_ids.append(chunk.request_id)
        except BatchFileError as exc:
            if fail_fast:
                raise
            rejection_parts.append(_file_rejection(file_idx, exc))
            stats["files_unreadable"] += 1
            continue
        image_parts += file_images
        rejection_parts += file_rejections
        value_parts += file_values
        item_parts += file_items
        store_parts += file_stores
        scope_parts += file_scopes
        stats["image_rows"] += file_seq - seq
        stats["store_view_rows_ignored"] += file_ignored
        seq = file_seq
        request_ids += [r for r in file_request_ids if r not in request_ids]
    parsed = _assemble(image_parts, rejection_parts, value_parts, item_parts, tuple(request_ids), stats,
                       store_parts, scope_parts)
    if formats and len(formats) == stats["files"] and all(kind == NATIVE_FORMAT for kind in formats):
        parsed.default_mode = APPEND
    return parsed


def _with_store_values(
    images: pd.DataFrame, stores: pd.DataFrame, raw: pd.DataFrame,
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
        wins = (frame["sku"].map(file_of) == frame["file_idx"]) & (frame["sku"].map(item_of) == frame["item_no"])
        return frame.loc[wins]

    return keep


def _assemble(
    image_parts: list[pd.DataFrame], rejection_parts: list[pd.DataFrame], value_parts: list[pd.DataFrame],
    item_parts: list[pd.DataFrame], request_ids: tuple[str, ...], stats: dict[str, int],
    store_parts: list[pd.DataFrame], scope_parts: list[pd.DataFrame],
) -> ParsedBatch:
    items = _concat(item_parts, items_frame({name: [] for name in ITEM_COLUMNS}))
    # Gallery CSV items (all rows of a SKU in a file) span chunks: keep their first line.
    items = items.drop_duplicates(_ITEM_KEYS, keep="first")
    rejection_parts = rejection_parts + [_item_rejections(items)]

    valid = items.loc[items["problem_field"] == ""].sort_values(["file_idx", "item_no"], kind="stable")
    winners = valid.drop_duplicates("sku", keep="last")
    superseded = valid.loc[~valid.index.isin(winners.index)]
    if len(superseded):
        later = superseded[["sku"]].merge(winners[["sku", "file", "line"]], on="sku", how="left")
        reasons = ("duplicate SKU: superseded by the item in " + later["file"] + " line "
                   + later["line"].astype("str"))
        rejection_parts.append(_warnings(superseded, "sku", superseded["sku"],
                                         pd.Series(reasons.to_numpy(), index=superseded.index)))
    keep = _winner_filter(winners, any_superseded=len(superseded) > 0)

    columns = list(IMAGE_COLUMNS) + ["file_idx", "item_no", "from_store"]
    images = keep(_concat([p[columns] for p in image_parts if len(p)], _typed_empty(columns)))
    image_parts.clear()  # the caller's chunk frames: free them before the copies below
    if not images["seq"].is_monotonic_increasing:
        images = images.sort_values("seq", kind="stable")
    if images["from_store"].any():
        # A native store-view row's image joins the gallery only when its item lists it nowhere else (the
        # item's default-scope row may sit in an earlier chunk).
        from_store = images["from_store"].astype(bool)
        listed = images.loc[~from_store, ["sku", "value"]].drop_duplicates().assign(_listed=True)
        flags = images[["sku", "value"]].merge(listed, on=["sku", "value"], how="left")["_listed"]
        extra = from_store.to_numpy() & (flags.fillna(False).astype(bool).to_numpy()
                                         | images.duplicated(["sku", "value"], keep="first").to_numpy())
        images = images.loc[~extra]
    repeated = images.duplicated(["sku", "value"], keep="last")
    if repeated.any():
        rows = images.loc[repeated]
        rejection_parts.append(_warnings(rows, "file_path", rows["value"],
                                         "same path twice in the item: the last one is kept"))
        images = images.loc[~repeated]
    images = images[list(IMAGE_COLUMNS)].reset_index(drop=True).astype({
        "sku": "str", "value": "str", "label": "object", "position": "Int64", "disabled": "boolean", "roles": "str",
        "file": "str", "line": "int64", "seq": "int64"})

    values = keep(_concat(value_parts, _typed_empty(_ITEM_KEYS + ["value", "seq"])))
    value_parts.clear()
    rejected_values = values[["sku", "value", "seq"]].reset_index(drop=True)
    del values

    store_values = _store_values(keep(pd.concat(store_parts, ignore_index=True)), images) if store_parts else \
        _empty_store_values()
    store_parts.clear()
    scope = keep(_concat(scope_parts, _typed_empty(_ITEM_KEYS))) if scope_parts else None
    role_scope = (_empty_role_scope() if scope is None or scope.empty else
                  scope.drop_duplicates("sku", keep="last")[list(ROLE_SCOPE_COLUMNS)].reset_index(drop=True)
                  .astype("str"))

    rejections = _concat(rejection_parts, empty_rejections())
    rejections = rejections.sort_values(["file_idx", "line", "image_seq"], kind="stable")
    image_errors = rejections.loc[(rejections["level"] == "image") & (rejections["severity"] == "error")]
    invalid = keep(image_errors)["sku"]
    invalid_skus = frozenset(str(s) for s in invalid.unique() if s)
    is_error = rejections["severity"] == "error"
    stats.update(
        items_seen=len(items),
        skus=len(winners),
        images=len(images),
        rejected_images=int(image_errors["image_seq"].nunique()),
        rejected_items=int(((rejections["level"] == "item") & is_error).sum()),
        warnings=int((~is_error).sum()),
        duplicate_skus=len(superseded),
        duplicate_paths=int(repeated.sum()),
        invalid_skus=len(invalid_skus),
        store_values=len(store_values),
    )
    # The internal keys (batch_validate.REJECTION_KEYS) stop here.
    rejections = rejections[list(REJECTION_COLUMNS)].reset_index(drop=True).astype({
        "severity": "str", "file": "str", "line": "int64", "sku": "str", "field": "str", "value": "str",
        "reason": "str"})
    return ParsedBatch(images, rejections, request_ids, stats, invalid_skus, rejected_values, store_values,
                       role_scope)


def _store_values(rows: pd.DataFrame, images: pd.DataFrame) -> pd.DataFrame:
    """STORE_VALUE_COLUMNS of the winning items' store rows whose image is in the batch's images.

    A row older than its (sku, value) image belongs to a superseded duplicate path and is dropped. Several
    rows for one (sku, value, store): per field the last one given wins, roles are united (ROLE_CODES order).
    """
    if rows.empty:
        return _empty_store_values()
    kept = images[["sku", "value", "seq"]].rename(columns={"seq": "_image_seq"})
    rows = rows.merge(kept, on=["sku", "value"], how="inner")
    rows = rows.loc[rows["seq"] >= rows["_image_seq"]].sort_values("seq", kind="stable")
    if rows.empty:
        return _empty_store_values()
    keys = ["sku", "value", "store"]
    codes, uniques = pd.factorize(rows["roles"])
    table = np.array([[code in text.split("|") for code in ROLE_CODES] for text in uniques], dtype=bool)
    role_flags = pd.DataFrame(table.reshape(-1, len(ROLE_CODES))[codes], columns=list(ROLE_CODES), index=rows.index)
    merged = rows.groupby(keys, sort=False)[["label", "position", "disabled", "file", "line", "seq"]].last()
    has = pd.concat([rows[keys], role_flags], axis=1).groupby(keys, sort=False)[list(ROLE_CODES)].any()
    merged["roles"] = role_text(has.to_numpy())
    merged = merged.reset_index().sort_values("seq", kind="stable")
    label = merged["label"].astype("object")
    return merged[list(STORE_VALUE_COLUMNS)].reset_index(drop=True).assign(
        label=label.where(label.notna(), None).reset_index(drop=True),
    ).astype({"sku": "str", "value": "str", "store": "str", "position": "Int64", "disabled": "boolean",
              "roles": "str", "file": "str", "line": "int64", "seq": "int64"})
