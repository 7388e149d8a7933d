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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nacento_pipeline.core.batch_csv import CSV_CHUNK_ROWS, read_gallery_csv, sniff_header
from nacento_pipeline.core.batch_json import looks_like_json_lines, read_json_bulk, read_json_lines
from nacento_pipeline.core.batch_native import is_native_header, merge_native_images, read_native_csv
from nacento_pipeline.core.batch_source import BunchSource, open_binary, peek_first_line, utf8_checked
from nacento_pipeline.core.batch_validate import (
    ITEM_COLUMNS,
    RawChunk,
    empty_rejections,
    items_frame,
    validate_images,
)
from nacento_pipeline.core.errors import BatchFileError
from nacento_pipeline.core.frames import IMAGE_COLUMNS, REJECTION_COLUMNS

__all__ = ["BatchFileError", "BunchSource", "ParsedBatch", "parse_batch"]

SUPPORTED_EXTENSIONS = ("csv", "json", "jsonl")
_ITEM_KEYS = ["file_idx", "item_no", "sku"]


@dataclass
class ParsedBatch:
    """The batch as one table of valid images (frames.IMAGE_COLUMNS) plus rejections/warnings
    (frames.REJECTION_COLUMNS), the request ids of JSON payloads, and counts (see `parse_batch`)."""

    images: pd.DataFrame
    rejections: pd.DataFrame
    request_ids: tuple[str, ...]
    stats: dict[str, int]
    invalid_sku_set: frozenset[str] = field(default=frozenset(), repr=False)
    rejected_values: pd.DataFrame | None = field(default=None, repr=False)  # sku, value, seq
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


def _read_source(source: BunchSource, file_idx: int, list_separator: str, chunk_rows: int) -> Iterator[RawChunk]:
    ext = source.extension
    name = source.name
    chunks = utf8_checked(source.chunks(), name)
    if ext == "csv":
        first, chunks = peek_first_line(chunks)
        if not first.strip():
            raise BatchFileError(name, "CSV file is empty (no header line)", line=1)
        header = sniff_header(first, name)
        stream = open_binary(chunks)
        if "file_path" in header:
            yield from read_gallery_csv(stream, name, file_idx, header, chunk_rows)
        elif is_native_header(header):
            yield from read_native_csv(stream, name, file_idx, header, list_separator, chunk_rows)
        else:
            raise BatchFileError(
                name, "CSV header has neither `sku,file_path` (gallery CSV) nor `sku` with image columns "
                "(native import CSV)", line=1)
    elif ext == "jsonl":
        yield from read_json_lines(open_binary(chunks), name, file_idx)
    elif ext == "json":
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
    types = {name: "int64" if name in _INT_COLUMNS else "bool" if name == "disabled" else "str" for name in columns}
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
    store_view_rows_ignored, invalid_skus.
    """
    image_parts: list[pd.DataFrame] = []
    rejection_parts: list[pd.DataFrame] = []
    value_parts: list[pd.DataFrame] = []
    item_parts: list[pd.DataFrame] = []
    request_ids: list[str] = []
    stats = dict.fromkeys(("files", "files_unreadable", "image_rows", "store_view_rows_ignored"), 0)
    seq = 0
    for file_idx, source in enumerate(files):
        stats["files"] += 1
        file_images: list[pd.DataFrame] = []
        file_rejections: list[pd.DataFrame] = []
        file_values: list[pd.DataFrame] = []
        file_items: list[pd.DataFrame] = []
        file_request_ids: list[str] = []
        file_seq, file_ignored = seq, 0
        try:
            for chunk in _read_source(source, file_idx, list_separator, chunk_rows):
                raw = chunk.raw
                raw["seq"] = np.arange(file_seq, file_seq + len(raw), dtype="int64")
                file_seq += len(raw)
                checked = validate_images(raw, keep_position_given=chunk.merge_paths)
                images = checked.images
                file_rejections.append(checked.rejections)
                if chunk.merge_paths:
                    images, hidden_warnings = merge_native_images(images, chunk.hidden)
                    file_rejections.append(hidden_warnings)
                file_images.append(images)
                file_values.append(checked.rejected_values)
                file_items.append(chunk.items)
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
        stats["image_rows"] += file_seq - seq
        stats["store_view_rows_ignored"] += file_ignored
        seq = file_seq
        request_ids += [r for r in file_request_ids if r not in request_ids]
    return _assemble(image_parts, rejection_parts, value_parts, item_parts, tuple(request_ids), stats)


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

    columns = list(IMAGE_COLUMNS) + ["file_idx", "item_no"]
    images = keep(_concat([p[columns] for p in image_parts if len(p)], _typed_empty(columns)))
    image_parts.clear()  # the caller's chunk frames: free them before the copies below
    if not images["seq"].is_monotonic_increasing:
        images = images.sort_values("seq", kind="stable")
    repeated = images.duplicated(["sku", "value"], keep="last")
    if repeated.any():
        rows = images.loc[repeated]
        rejection_parts.append(_warnings(rows, "file_path", rows["value"],
                                         "same path twice in the item: the last one is kept"))
        images = images.loc[~repeated]
    images = images[list(IMAGE_COLUMNS)].reset_index(drop=True).astype({
        "sku": "str", "value": "str", "label": "str", "position": "int64", "disabled": "bool", "roles": "str",
        "file": "str", "line": "int64", "seq": "int64"})

    values = keep(_concat(value_parts, _typed_empty(_ITEM_KEYS + ["value", "seq"])))
    value_parts.clear()
    rejected_values = values[["sku", "value", "seq"]].reset_index(drop=True)
    del values

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
    )
    # The internal keys (batch_validate.REJECTION_KEYS) stop here.
    rejections = rejections[list(REJECTION_COLUMNS)].reset_index(drop=True).astype({
        "severity": "str", "file": "str", "line": "int64", "sku": "str", "field": "str", "value": "str",
        "reason": "str"})
    return ParsedBatch(images, rejections, request_ids, stats, invalid_skus, rejected_values)
