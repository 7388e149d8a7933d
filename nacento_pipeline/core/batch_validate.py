"""Vectorised validation of raw image rows read from bunch files (one pandas chunk at a time).

Readers turn every format into *raw rows* (RAW_COLUMNS, all strings as given); `validate_images` applies the
connector's rules column-wise and returns the valid images, one rejection row per problem, and every
normalisable (sku, value) pair of the rejected images (the valid ones are in the images already).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nacento_pipeline.core.frames import REJECTION_COLUMNS
from nacento_pipeline.core.paths import MAX_GALLERY_VALUE_LENGTH, REASON_VALUE_TOO_LONG, normalize_file_paths
from nacento_pipeline.core.roles import normalize_role_text

# Raw rows, one per payload image, every payload field as a string ("" when not given):
# file_idx, item_no  which item of which file the image belongs to (item_no 0 = all rows of the SKU in the file)
# line               1-based line (CSV/JSONL) or item number (JSON bulk)
# seq                global payload order
# pre_field/pre_value/pre_reason   a problem the reader already found (e.g. a JSON object where a string is due)
RAW_COLUMNS = (
    "file_idx", "item_no", "line", "seq", "file", "sku", "file_path", "label", "position", "disabled", "roles",
    "pre_field", "pre_value", "pre_reason",
)
# Internal columns kept beside REJECTION_COLUMNS until the batch is assembled.
REJECTION_KEYS = ("file_idx", "item_no", "level", "image_seq")

MAX_LABEL_LENGTH = 255
MIN_POSITION, MAX_POSITION = -100_000, 100_000
MAX_VALUE_LENGTH = 200
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")


@dataclass
class ValidatedChunk:
    images: pd.DataFrame       # file_idx, item_no, sku, value, label, position, position_given, disabled, roles,
    #                            file, line, seq
    rejections: pd.DataFrame   # REJECTION_COLUMNS + REJECTION_KEYS
    rejected_values: pd.DataFrame  # file_idx, item_no, sku, value, seq of rejected images with a normalisable path


def clip_value(values: pd.Series) -> pd.Series:
    return values.fillna("").astype("str").str.slice(0, MAX_VALUE_LENGTH)


def rejection_rows(
    raw: pd.DataFrame, mask: pd.Series, field: pd.Series | str, values: pd.Series, reasons: pd.Series | str,
    severity: str = "error", sku: pd.Series | None = None,
) -> pd.DataFrame:
    """Rejection rows (with internal keys) for the raw rows selected by `mask`."""
    rows = raw.loc[mask]
    reason = reasons.loc[mask] if isinstance(reasons, pd.Series) else reason_series(rows.index, reasons)
    return pd.DataFrame({
        "severity": severity,
        "file": rows["file"],
        "line": rows["line"].astype("int64"),
        "sku": (sku if sku is not None else rows["sku"]).loc[mask].astype("str"),
        "field": field.loc[mask].astype("str") if isinstance(field, pd.Series) else field,
        "value": clip_value(values.loc[mask]),
        "reason": reason.astype("str"),
        "file_idx": rows["file_idx"].astype("int64"),
        "item_no": rows["item_no"].astype("int64"),
        "level": "image",
        "image_seq": rows["seq"].astype("int64"),
    })


def reason_series(index: pd.Index, reason: str) -> pd.Series:
    return pd.Series(reason, index=index, dtype="str")


def empty_rejections() -> pd.DataFrame:
    types = {"line": "int64", "file_idx": "int64", "item_no": "int64", "image_seq": "int64"}
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, "str")) for c in REJECTION_COLUMNS + REJECTION_KEYS})


def validate_images(raw: pd.DataFrame, keep_position_given: bool = False) -> ValidatedChunk:
    """Apply the image rules to a chunk of raw rows (see module docstring).

    `position_given` (whether the row carried a position) is only kept on request (native CSV merging).
    """
    sku = raw["sku"].astype("str").str.strip()
    ok = pd.Series(True, index=raw.index)
    problems: list[pd.DataFrame] = []

    def reject(mask: pd.Series, field: pd.Series | str, values: pd.Series, reasons: pd.Series | str) -> None:
        nonlocal ok
        if mask.any():
            problems.append(rejection_rows(raw, mask, field, values, reasons, sku=sku))
            ok &= ~mask

    # A problem the reader already found is the image's only reported problem (its other fields are void).
    pre = raw["pre_field"] != ""
    reject(pre, raw["pre_field"], raw["pre_value"], raw["pre_reason"])
    checked = ~pre

    reject(checked & (sku == ""), "sku", raw["sku"], "SKU is empty")

    values, path_reasons = normalize_file_paths(raw["file_path"])
    reject(checked & (path_reasons != ""), "file_path", raw["file_path"], path_reasons)
    reject(checked & (path_reasons == "") & (values.str.len() > MAX_GALLERY_VALUE_LENGTH), "file_path",
           raw["file_path"], REASON_VALUE_TOO_LONG)

    label = raw["label"].astype("str")
    reject(checked & (label.str.len() > MAX_LABEL_LENGTH), "label", label,
           f"label is longer than {MAX_LABEL_LENGTH} characters")

    position_text = raw["position"].astype("str").str.strip()
    position_given = position_text != ""
    is_integer = position_text.str.fullmatch(r"[+-]?\d+") | ~position_given
    reject(checked & ~is_integer, "position", position_text, "position is not an integer")
    number = pd.to_numeric(position_text.where(is_integer & position_given, "0"), errors="coerce")
    number = number.astype("float64")
    out_of_range = is_integer & ((number < MIN_POSITION) | (number > MAX_POSITION))
    reject(checked & out_of_range, "position", position_text,
           f"position is outside {MIN_POSITION}..{MAX_POSITION}")

    disabled_text = raw["disabled"].astype("str").str.strip().str.lower()
    disabled_true = disabled_text.isin(TRUE_WORDS)
    bad_disabled = ~(disabled_true | disabled_text.isin(FALSE_WORDS))
    reject(checked & bad_disabled, "disabled", raw["disabled"],
           "disabled is not a boolean (true/false, 1/0, yes/no, on/off)")

    role_text = raw["roles"].astype("str")
    mapping = {text: normalize_role_text(text) for text in role_text.unique()}
    codes = role_text.map({text: pair[0] for text, pair in mapping.items()}).astype("str")
    unknown = role_text.map({text: pair[1] for text, pair in mapping.items()}).astype("str")
    warn = (unknown != "") & ok
    if warn.any():
        problems.append(rejection_rows(raw, warn, "roles", role_text,
                                       "unknown role(s) ignored: " + unknown, severity="warning", sku=sku))

    images = pd.DataFrame({
        "file_idx": raw["file_idx"], "item_no": raw["item_no"], "sku": sku, "value": values,
        "label": label, "position": number.fillna(0).astype("int64"), "position_given": position_given,
        "disabled": disabled_true, "roles": codes, "file": raw["file"], "line": raw["line"], "seq": raw["seq"],
    }).loc[ok]

    normalisable = (values != "") & (sku != "") & ~ok
    payload_values = pd.DataFrame({
        "file_idx": raw["file_idx"], "item_no": raw["item_no"], "sku": sku, "value": values, "seq": raw["seq"],
    }).loc[normalisable]

    rejections = pd.concat(problems, ignore_index=True) if problems else empty_rejections()
    images = images.drop(columns="position_given") if not keep_position_given else images
    return ValidatedChunk(images.reset_index(drop=True), rejections, payload_values.reset_index(drop=True))


def raw_frame(columns: dict[str, object], index: pd.Index | None = None) -> pd.DataFrame:
    """A raw-rows frame from Series, lists or scalars per column (missing columns: 0 or "")."""
    data: dict[str, object] = {}
    for name in RAW_COLUMNS:
        default: object = 0 if name in _INT_RAW else ""
        data[name] = columns.get(name, default)
    if index is None:
        lengths = [len(v) for v in data.values() if isinstance(v, list | pd.Series | np.ndarray)]
        index = pd.RangeIndex(lengths[0] if lengths else 0)
    frame = pd.DataFrame(data, index=index)
    return frame.astype({name: ("int64" if name in _INT_RAW else "str") for name in RAW_COLUMNS})


_INT_RAW = ("file_idx", "item_no", "line", "seq")


@dataclass
class RawChunk:
    """What a reader yields: raw image rows, the items they belong to, and format extras."""

    raw: pd.DataFrame                  # RAW_COLUMNS (seq assigned by the batch assembler)
    items: pd.DataFrame                # ITEM_COLUMNS
    hidden: pd.DataFrame | None = None  # native CSV: file_idx, item_no, line, sku, path (hide_from_product_page)
    request_id: str | None = None
    ignored_rows: int = 0              # rows deliberately skipped (native CSV store-view rows)
    merge_paths: bool = False          # native CSV: rows of one path in one item are merged, not deduplicated


# Items: one row per gallery item seen. problem_* is "" for a valid item, else why the item is rejected
# (field "sku" or "images").
ITEM_COLUMNS = ("file_idx", "item_no", "line", "file", "sku", "problem_field", "problem_value", "problem_reason")


def items_frame(columns: dict[str, list]) -> pd.DataFrame:
    n = len(columns["sku"])
    data = {}
    for name in ITEM_COLUMNS:
        values = columns.get(name, [0 if name in ("file_idx", "item_no", "line") else ""] * n)
        dtype = "int64" if name in ("file_idx", "item_no", "line") else "str"
        data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)
