"""Magento's native product import CSV: image columns exploded into raw image rows, then merged per path.

Merge rules when one path appears in several columns of a row (e.g. `base_image` and `additional_images`):
- roles: the union of the role columns naming the path (`base_image` -> image, `small_image` ->
  small_image, `thumbnail_image` -> thumbnail, `swatch_image` -> swatch_image);
- label: the first non-empty label in column order base, small, thumbnail, swatch, additional;
- position: the path's entry in `additional_image_positions` when given, else its 1-based rank among the
  row's distinct paths in order of first appearance (base, small, thumbnail, swatch, additional);
- disabled: true when the path (normalised) is listed in `hide_from_product_page`.
`__EMPTY__VALUE__` is an explicitly empty cell or list entry. Rows with a `store_view_code` are store-view
overrides: the gallery is global (store 0), so they are ignored and counted. A row whose image columns are
all empty is an item without images (rejected, field "images").
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd

from nacento_pipeline.core.batch_csv import CSV_CHUNK_ROWS, read_csv_chunks
from nacento_pipeline.core.batch_validate import (
    RawChunk,
    empty_rejections,
    items_frame,
    raw_frame,
)
from nacento_pipeline.core.errors import BatchFileError
from nacento_pipeline.core.frames import ROLE_CODES
from nacento_pipeline.core.paths import normalize_file_paths

EMPTY_VALUE = "__EMPTY__VALUE__"
NATIVE_CHUNK_ROWS = 20_000  # native exports have many columns: smaller chunks keep memory flat
# (path column, label column, role attribute code)
ROLE_COLUMNS = (
    ("base_image", "base_image_label", "image"),
    ("small_image", "small_image_label", "small_image"),
    ("thumbnail_image", "thumbnail_image_label", "thumbnail"),
    ("swatch_image", "swatch_image_label", "swatch_image"),
)
IMAGE_COLUMNS = tuple(c[0] for c in ROLE_COLUMNS) + ("additional_images",)
NATIVE_COLUMNS = (
    ("sku", "store_view_code")
    + tuple(name for path, label, _ in ROLE_COLUMNS for name in (path, label))
    + ("additional_images", "additional_image_labels", "additional_image_positions", "hide_from_product_page")
)


def is_native_header(header: list[str]) -> bool:
    return "sku" in header and any(name in header for name in IMAGE_COLUMNS)


def _cell(value: str) -> str:
    value = value.strip()
    return "" if value == EMPTY_VALUE else value


def _split(value: str, separator: str) -> list[str]:
    if not value.strip():
        return []
    return [_cell(part) for part in value.split(separator)]


def read_native_csv(
    stream: io.BufferedReader, file: str, file_idx: int, header: list[str], list_separator: str = ",",
    chunk_rows: int = CSV_CHUNK_ROWS,
) -> Iterator[RawChunk]:
    """Raw rows of a native import CSV; one item per CSV row (item_no = line)."""
    if not is_native_header(header):
        raise BatchFileError(file, "CSV header has no `sku` or no image column", line=1)
    for frame in read_csv_chunks(stream, file, NATIVE_COLUMNS, min(chunk_rows, NATIVE_CHUNK_ROWS)):
        cols = {name: (frame[name].tolist() if name in frame.columns else [""] * len(frame))
                for name in NATIVE_COLUMNS}
        lines = frame["line"].tolist()
        raw: dict[str, list] = {k: [] for k in ("item_no", "line", "sku", "file_path", "label", "position", "roles")}
        items: dict[str, list] = {k: [] for k in ("item_no", "line", "sku", "problem_field", "problem_value",
                                                    "problem_reason")}
        hidden: dict[str, list] = {k: [] for k in ("item_no", "line", "sku", "path")}
        ignored = 0
        for i, line in enumerate(lines):
            if cols["store_view_code"][i].strip():
                ignored += 1
                continue
            sku = cols["sku"][i].strip()
            images: list[tuple[str, str, str, str]] = []  # path, label, position, role
            explicit_empty = False
            for path_col, label_col, role in ROLE_COLUMNS:
                cell = cols[path_col][i]
                explicit_empty |= cell.strip() == EMPTY_VALUE
                path = _cell(cell)
                if path:
                    images.append((path, _cell(cols[label_col][i]), "", role))
            additional = cols["additional_images"][i]
            explicit_empty |= additional.strip() == EMPTY_VALUE
            labels = _split(cols["additional_image_labels"][i], list_separator)
            positions = _split(cols["additional_image_positions"][i], list_separator)
            for k, path in enumerate(_split(additional, list_separator)):
                if path:
                    label = labels[k] if k < len(labels) else ""
                    position = positions[k] if k < len(positions) else ""
                    images.append((path, label, position, ""))
            problem = ("", "", "")
            if not sku:
                problem = ("sku", cols["sku"][i], "SKU is empty")
            elif not images:
                reason = ("all image columns are __EMPTY__VALUE__: an empty gallery is never applied"
                          if explicit_empty else "no images: every image column is empty")
                problem = ("images", "", reason)
            items["item_no"].append(line)
            items["line"].append(line)
            items["sku"].append(sku)
            for key, value in zip(("problem_field", "problem_value", "problem_reason"), problem, strict=True):
                items[key].append(value)
            if problem[0]:
                continue
            for path, label, position, role in images:
                for key, value in zip(("item_no", "line", "sku", "file_path", "label", "position", "roles"),
                                      (line, line, sku, path, label, position, role), strict=True):
                    raw[key].append(value)
            for path in _split(cols["hide_from_product_page"][i], list_separator):
                if path:
                    for key, value in zip(("item_no", "line", "sku", "path"), (line, line, sku, path),
                                          strict=True):
                        hidden[key].append(value)
        raw_rows = raw_frame({**raw, "file_idx": file_idx, "file": file})
        item_rows = items_frame({**items, "file_idx": [file_idx] * len(items["sku"]),
                                 "file": [file] * len(items["sku"])})
        hidden_rows = pd.DataFrame({**hidden, "file_idx": file_idx, "file": file}) if hidden["path"] else None
        yield RawChunk(raw_rows, item_rows, hidden=hidden_rows, ignored_rows=ignored,
                       merge_paths=True)


def merge_native_images(images: pd.DataFrame, hidden: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge a native chunk's valid raw images per (item, value) by the module's rules.

    Returns (images, warnings): warnings for `hide_from_product_page` entries that are not valid paths or
    name no image of their row.
    """
    keys = ["file_idx", "item_no", "value"]
    if images.empty:
        merged = images.drop(columns=[], errors="ignore")
    else:
        ordered = images.sort_values("seq", kind="stable")
        role_flags = pd.DataFrame({code: ordered["roles"] == code for code in ROLE_CODES})
        grouped = pd.concat([ordered[keys], role_flags], axis=1).groupby(keys, sort=False)[list(ROLE_CODES)].any()
        first = ordered.drop_duplicates(keys, keep="first").set_index(keys)
        label = ordered.assign(label=ordered["label"].where(ordered["label"] != ""))
        label = label.groupby(keys, sort=False)["label"].first()
        explicit = ordered.loc[ordered["position_given"]].groupby(keys, sort=False)["position"].first()
        merged = first.copy()
        merged["label"] = label.reindex(merged.index).fillna("").astype("str")
        roles = pd.Series("", index=merged.index, dtype="str")
        for code in ROLE_CODES:
            has = grouped[code].reindex(merged.index).fillna(False).astype(bool)
            roles = roles.where(~has, roles.where(roles == "", roles + "|") + code)
        merged["roles"] = roles
        merged = merged.reset_index().sort_values("seq", kind="stable")
        rank = merged.groupby(["file_idx", "item_no"], sort=False).cumcount() + 1
        given = explicit.reindex(pd.MultiIndex.from_frame(merged[keys]))
        merged["position"] = pd.Series(given.to_numpy(), index=merged.index).fillna(rank).astype("int64")
        merged["position_given"] = True
        merged["disabled"] = False
    warnings = empty_rejections()
    if hidden is not None and not hidden.empty:
        values, reasons = normalize_file_paths(hidden["path"])
        hidden = hidden.assign(value=values, reason=reasons)
        known = merged[keys].assign(known=True) if not merged.empty else None
        if known is not None:
            hidden = hidden.merge(known, on=keys, how="left")
            hidden["known"] = hidden["known"].fillna(False).astype(bool)
            hit = hidden.loc[hidden["known"], keys].drop_duplicates().assign(hide=True)
            merged = merged.merge(hit, on=keys, how="left")
            merged["disabled"] = merged["hide"].fillna(False).astype(bool)
            merged = merged.drop(columns="hide")
        else:
            hidden["known"] = False
        bad = hidden.loc[~hidden["known"]]
        if not bad.empty:
            warnings = pd.DataFrame({
                "severity": "warning", "file": bad["file"], "line": bad["line"].astype("int64"),
                "sku": bad["sku"].astype("str"), "field": "disabled",
                "value": bad["path"].astype("str").str.slice(0, 200),
                "reason": ("hide_from_product_page entry ignored: "
                           + bad["reason"].where(bad["reason"] != "", "no image of this row has that path")),
                "file_idx": bad["file_idx"].astype("int64"), "item_no": bad["item_no"].astype("int64"),
                "level": "image", "image_seq": 0,
            })
    return merged.reset_index(drop=True), warnings
