"""Vectorised validation of raw image rows read from bunch files (one pandas chunk at a time).

Readers turn every format into *raw rows* (RAW_COLUMNS, all strings as given); `validate_images` applies the
connector's rules column-wise and returns the valid images, one rejection row per problem, and every
normalisable (sku, value) pair of the rejected images (the valid ones are in the images already).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nacento_pipeline.core.delta.roles import normalize_role_text
from nacento_pipeline.core.frames import REJECTION_COLUMNS
from nacento_pipeline.core.paths import (
    MAX_GALLERY_VALUE_LENGTH,
    REASON_VALUE_TOO_LONG,
    normalize_file_paths,
)

# Raw rows, one per payload image, every payload field as a string ("" when not given):
# file_idx, item_no  which item of which file the image belongs to (item_no 0 = all rows of the SKU in the
#                    file)
# line               1-based line (CSV/JSONL) or item number (JSON bulk)
# seq                global payload order
# pre_field/pre_value/pre_reason   a problem the reader already found (e.g. a JSON object where a string is
#                                  due)
# origin             "" or "store": an image a native-CSV store-view row names (added to the gallery only when
#                    its item does not list it; its values are store-level, see STORE_RAW_COLUMNS)
# column             native CSV: the column that named the image (`base_image`, `additional_images`, ...), so
#                    refusals name the file's own columns; "" for the other formats
RAW_COLUMNS = (
    "file_idx",
    "item_no",
    "line",
    "seq",
    "file",
    "sku",
    "file_path",
    "label",
    "position",
    "disabled",
    "roles",
    "pre_field",
    "pre_value",
    "pre_reason",
    "origin",
    "column",
)
# Native CSV: the label and position columns belonging to each image column (refusals name them).
NATIVE_LABEL_COLUMNS = {
    "base_image": "base_image_label",
    "small_image": "small_image_label",
    "thumbnail_image": "thumbnail_image_label",
    "swatch_image": "swatch_image_label",
    "additional_images": "additional_image_labels",
}
NATIVE_POSITION_COLUMNS = {"additional_images": "additional_image_positions"}
# Raw store-level values, one per (image, store), strings as given ("" when not given):
# image_row          position of the image's raw row in its chunk (the image they belong to)
# line               1-based line of the row that gave them
# store              store code as given; code_field: the field naming it ("stores.de", "store_view_code")
# prefix             prefix of the other fields in rejections ("stores.de." for JSON, "" for native CSV)
# label_given        "1" when a label was given (an empty label given is "" at store level, not "not set")
STORE_RAW_COLUMNS = (
    "image_row",
    "line",
    "store",
    "code_field",
    "prefix",
    "label",
    "label_given",
    "position",
    "disabled",
    "roles",
    "pre_field",
    "pre_value",
    "pre_reason",
)
# Internal columns kept beside REJECTION_COLUMNS until the batch is assembled.
REJECTION_KEYS = ("file_idx", "item_no", "level", "image_seq")

MAX_LABEL_LENGTH = 255
# catalog_product_entity.sku is varchar(64), as
# Magento\Catalog\Model\Product\Attribute\Backend\Sku::SKU_MAX_LENGTH says.
MAX_SKU_LENGTH = 64
# C0 and C1 control characters (NUL, TAB, CR, LF, ESC, ...) and DEL.
CONTROL_CHARACTER_PATTERN = r"([\x00-\x1f\x7f-\x9f])"
# Bidirectional embeddings, overrides and isolates (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI): they make a
# label display other than it reads ("Trojan Source"); ordinary right-to-left text needs none of them.
BIDI_CONTROL_PATTERN = r"([\u202a-\u202e\u2066-\u2069])"
MIN_POSITION, MAX_POSITION = -100_000, 100_000
MAX_VALUE_LENGTH = 200
# Magento's store codes: a letter, then letters, digits or '_' (StoreCodeValidator), at most 32 (store.code).
STORE_CODE_PATTERN = r"[A-Za-z][A-Za-z0-9_]{0,31}"
ADMIN_STORE_CODE = "admin"  # store 0, the default scope: its values are the image's own
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("", "0", "false", "no", "off")
REASON_LABEL_TOO_LONG = f"label is longer than {MAX_LABEL_LENGTH} characters"
REASON_SKU_TOO_LONG = f"SKU is longer than {MAX_SKU_LENGTH} characters (Magento's catalog_product_entity.sku)"
REASON_POSITION_NOT_INTEGER = "position is not an integer"
REASON_POSITION_RANGE = f"position is outside {MIN_POSITION}..{MAX_POSITION}"
REASON_NOT_BOOLEAN = "disabled is not a boolean (true/false, 1/0, yes/no, on/off)"


@dataclass
class ValidatedChunk:
    """One chunk's valid images, its rejection rows, and the rejected images with a normalisable path."""

    images: pd.DataFrame  # file_idx, item_no, sku, value, label, position (Int64), disabled, roles, file,
    #                            line, seq; native CSV also position_given and from_store (origin "store")
    rejections: pd.DataFrame  # REJECTION_COLUMNS + REJECTION_KEYS
    rejected_values: (
        pd.DataFrame
    )  # file_idx, item_no, sku, value, seq of rejected images with a normalisable path


def _clip_value(values: pd.Series) -> pd.Series:
    """The values as text cut to MAX_VALUE_LENGTH, for a rejection's `value` column."""
    return values.fillna("").astype("str").str.slice(0, MAX_VALUE_LENGTH)


def rejection_rows(
    raw: pd.DataFrame,
    mask: pd.Series,
    field: pd.Series | str,
    values: pd.Series,
    reasons: pd.Series | str,
    severity: str = "error",
    sku: pd.Series | None = None,
) -> pd.DataFrame:
    """Rejection rows (with internal keys) for the raw rows selected by `mask`."""
    rows = raw.loc[mask]
    reason = reasons.loc[mask] if isinstance(reasons, pd.Series) else _reason_series(rows.index, reasons)
    return pd.DataFrame(
        {
            "severity": severity,
            "file": rows["file"],
            "line": rows["line"].astype("int64"),
            "sku": (sku if sku is not None else rows["sku"]).loc[mask].astype("str"),
            "field": field.loc[mask].astype("str") if isinstance(field, pd.Series) else field,
            "value": _clip_value(values.loc[mask]),
            "reason": reason.astype("str"),
            "file_idx": rows["file_idx"].astype("int64"),
            "item_no": rows["item_no"].astype("int64"),
            "level": "image",
            "image_seq": rows["seq"].astype("int64"),
        }
    )


def _reason_series(index: pd.Index, reason: str) -> pd.Series:
    """One reason repeated over `index`."""
    return pd.Series(reason, index=index, dtype="str")


def empty_rejections() -> pd.DataFrame:
    """A rejection frame without rows, with REJECTION_COLUMNS + REJECTION_KEYS and their dtypes."""
    types = {"line": "int64", "file_idx": "int64", "item_no": "int64", "image_seq": "int64"}
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, "str")) for c in REJECTION_COLUMNS + REJECTION_KEYS})


class _Refusals:
    """The rejection rows a chunk's rules produce; `ok` marks the rows no rule has refused yet.

    With `first_only`, a row refused once is not checked again (store-level values report one problem).
    """

    def __init__(self, rows: pd.DataFrame, sku: pd.Series | None = None, first_only: bool = False) -> None:
        self.rows = rows
        self.sku = sku
        self.first_only = first_only
        self.ok = pd.Series(True, index=rows.index)
        self.parts: list[pd.DataFrame] = []

    def reject(
        self, mask: pd.Series, field: pd.Series | str, values: pd.Series, reasons: pd.Series | str
    ) -> None:
        if self.first_only:
            mask = mask & self.ok
        if mask.any():
            self.parts.append(rejection_rows(self.rows, mask, field, values, reasons, sku=self.sku))
            self.ok &= ~mask

    def warn(self, mask: pd.Series, field: pd.Series | str, values: pd.Series, reason: str) -> None:
        """A warning for the rows of `mask` still valid (they are kept)."""
        mask = mask & self.ok
        if mask.any():
            self.parts.append(
                rejection_rows(self.rows, mask, field, values, reason, severity="warning", sku=self.sku)
            )

    def warn_unknown_roles(self, field: pd.Series | str, roles: pd.Series) -> pd.Series:
        """The role codes of each row; a warning names the unknown roles of each row still valid."""
        role_text = roles.astype("str")
        codes, unknown = _role_columns(role_text)
        warn = (unknown != "") & self.ok
        if warn.any():
            self.parts.append(
                rejection_rows(
                    self.rows,
                    warn,
                    field,
                    role_text,
                    "unknown role(s) ignored: " + unknown,
                    severity="warning",
                    sku=self.sku,
                )
            )
        return codes

    def frame(self) -> pd.DataFrame:
        return pd.concat(self.parts, ignore_index=True) if self.parts else empty_rejections()


@dataclass(frozen=True)
class _ImageFields:
    values: pd.Series  # canonical gallery value ("" when the path cannot be one)
    label: pd.Series
    number: pd.Series  # position as float, NaN when not given
    position_given: pd.Series
    disabled: pd.Series
    roles: pd.Series  # role codes


def validate_images(raw: pd.DataFrame, keep_position_given: bool = False) -> ValidatedChunk:
    """Apply the image rules to a chunk of raw rows (see module docstring).

    `position_given` (whether the row carried a position) is only kept on request (native CSV merging).
    """
    sku = raw["sku"].astype("str").str.strip()
    refusals = _Refusals(raw, sku=sku)
    # A problem the reader already found is the image's only reported problem (its other fields are void).
    pre = raw["pre_field"] != ""
    refusals.reject(pre, raw["pre_field"], raw["pre_value"], raw["pre_reason"])
    refusals.reject(~pre & (sku == ""), "sku", raw["sku"], "SKU is empty")
    refusals.reject(~pre & (sku.str.len() > MAX_SKU_LENGTH), "sku", raw["sku"], REASON_SKU_TOO_LONG)
    sku_control = _first_match(sku, CONTROL_CHARACTER_PATTERN)
    refusals.reject(~pre & sku_control.notna(), "sku", raw["sku"], _character_reasons("SKU", sku_control))
    fields = _checked_image_fields(raw, ~pre, refusals)
    ok = refusals.ok

    # Not given (or rejected) is <NA>: the writer places such images after the product's current maximum.
    images = pd.DataFrame(
        {
            "file_idx": raw["file_idx"],
            "item_no": raw["item_no"],
            "sku": sku,
            "value": fields.values,
            "label": fields.label,
            "position": fields.number.where(ok).astype("Int64"),
            "position_given": fields.position_given,
            "disabled": fields.disabled,
            "roles": fields.roles,
            "file": raw["file"],
            "line": raw["line"],
            "seq": raw["seq"],
        }
    ).loc[ok]
    normalisable = (fields.values != "") & (sku != "") & ~ok
    payload_values = pd.DataFrame(
        {
            "file_idx": raw["file_idx"],
            "item_no": raw["item_no"],
            "sku": sku,
            "value": fields.values,
            "seq": raw["seq"],
        }
    ).loc[normalisable]
    if keep_position_given:
        images["from_store"] = (raw["origin"] == "store").loc[ok]
    else:
        images = images.drop(columns="position_given")
    return ValidatedChunk(
        images.reset_index(drop=True), refusals.frame(), payload_values.reset_index(drop=True)
    )


def _checked_image_fields(raw: pd.DataFrame, checked: pd.Series, refusals: _Refusals) -> _ImageFields:
    """Path, label, position, disabled and roles of the `checked` rows, each refused by its own rule."""
    path_field, label_field, position_field = _field_names(raw)
    values, path_reasons = normalize_file_paths(raw["file_path"])
    refusals.reject(checked & (path_reasons != ""), path_field, raw["file_path"], path_reasons)
    refusals.reject(
        checked & (path_reasons == "") & (values.str.len() > MAX_GALLERY_VALUE_LENGTH),
        path_field,
        raw["file_path"],
        REASON_VALUE_TOO_LONG,
    )
    label = raw["label"].astype("str").str.normalize("NFC")
    for mask, reason in _label_problems(label):
        refusals.reject(checked & mask, label_field, label, reason)
    position_text = raw["position"].astype("str").str.strip()
    number, position_problems = _position_check(position_text)
    for mask, reason in position_problems:
        refusals.reject(checked & mask, position_field, position_text, reason)
    disabled_true, _, not_boolean = _disabled_check(raw["disabled"])
    refusals.reject(checked & not_boolean, "disabled", raw["disabled"], REASON_NOT_BOOLEAN)
    roles = refusals.warn_unknown_roles("roles", raw["roles"])
    return _ImageFields(values, label, number, position_text != "", disabled_true, roles)


def _field_names(raw: pd.DataFrame) -> tuple[pd.Series | str, pd.Series | str, pd.Series | str]:
    """The names refusals give the path, label and position of each raw row.

    These are the payload's field names, or for native CSV rows the columns they came from.
    """
    column = raw["column"].astype("str") if "column" in raw else None
    if column is None or not (column != "").any():
        return "file_path", "label", "position"
    path = column.where(column != "", "file_path")
    label = column.map(NATIVE_LABEL_COLUMNS).fillna("label").astype("str")
    position = column.map(NATIVE_POSITION_COLUMNS).fillna("position").astype("str")
    return path, label, position


def _label_problems(label: pd.Series) -> list[tuple[pd.Series, pd.Series | str]]:
    """[(mask, reason)] of labels (already NFC) that are too long or hold a control or bidi control character.

    Any other Unicode text is a label.
    """
    problems: list[tuple[pd.Series, pd.Series | str]] = [
        (label.str.len() > MAX_LABEL_LENGTH, REASON_LABEL_TOO_LONG)
    ]
    for pattern in (CONTROL_CHARACTER_PATTERN, BIDI_CONTROL_PATTERN):
        found = _first_match(label, pattern)
        problems.append((found.notna(), _character_reasons("label", found)))
    return problems


def _first_match(text: pd.Series, pattern: str) -> pd.Series:
    """The first character of each text that `pattern` (one group) matches; NaN where none does.

    One search over all texts joined by a space (which neither pattern matches) first: a clean column, the
    usual case, costs no regex call per row.
    """
    if re.search(pattern, " ".join(text.dropna().astype(str).tolist())) is None:
        return pd.Series(np.nan, index=text.index, dtype=object)
    return text.str.extract(pattern, expand=False)


def _character_reasons(what: str, found: pd.Series) -> pd.Series:
    """'<what> contains U+000A (a control character)' for each character found ("" where none was)."""

    def reason(char: object) -> str:
        if not isinstance(char, str):
            return ""
        kind = "a bidirectional control character" if "\u202a" <= char <= "\u2069" else "a control character"
        return (
            f"{what} contains U+{ord(char):04X} ({kind}); ordinary text is fine, control characters are not"
        )

    out = pd.Series("", index=found.index, dtype="str")
    hit = found.notna()
    if hit.any():
        out[hit] = found[hit].map(reason).astype("str")
    return out


def _position_check(text: pd.Series) -> tuple[pd.Series, list[tuple[pd.Series, str]]]:
    """(number as float, [(mask, reason)] of the refused ones) of stripped position texts; "" is not given."""
    given = text != ""
    is_integer = text.str.fullmatch(r"[+-]?[0-9]+") | ~given  # ASCII digits only: "٣" is no position
    number = pd.to_numeric(text.where(is_integer & given, "0"), errors="coerce").astype("float64")
    out_of_range = is_integer & ((number < MIN_POSITION) | (number > MAX_POSITION))
    return number.where(given), [
        (~is_integer, REASON_POSITION_NOT_INTEGER),
        (out_of_range, REASON_POSITION_RANGE),
    ]


def _disabled_check(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(true, given, not a boolean) masks of `disabled` values; an empty value is given as nothing (false)."""
    text = values.astype("str").str.strip().str.lower()
    return text.isin(TRUE_WORDS), text != "", ~text.isin(TRUE_WORDS + FALSE_WORDS)


@dataclass
class ValidatedStores:
    """One chunk's valid store-level values, their rejection rows, and the seqs of the images they reject."""

    rows: pd.DataFrame  # file_idx, item_no, sku, seq (of the image), store, label, position, disabled,
    #                            roles, file, line
    rejections: pd.DataFrame  # REJECTION_COLUMNS + REJECTION_KEYS; image_seq = the image's seq
    rejected_seqs: pd.Series  # seqs of the images rejected for a store-level value


def validate_store_values(stores: pd.DataFrame, raw: pd.DataFrame) -> ValidatedStores:
    """Apply the image rules to store-level values (STORE_RAW_COLUMNS) of a chunk whose raw rows have seqs.

    A store-level problem rejects its image, like a default-scope field: the field names the store
    (`stores.de.label`, `store_view_code`). Store codes are checked for syntax only; `admin` (store 0) is not
    a store view. Label None = not set; position <NA> = not set; disabled <NA> = not set.
    """
    ctx = _store_rows_context(stores, raw)
    refusals = _Refusals(ctx, first_only=True)
    prefix = stores["prefix"].astype("str")
    refusals.reject(stores["pre_field"] != "", stores["pre_field"], stores["pre_value"], stores["pre_reason"])
    code = stores["store"].astype("str")
    refusals.reject(
        ~code.str.fullmatch(STORE_CODE_PATTERN),
        stores["code_field"],
        code,
        "store code must start with a letter, then letters, digits or '_', at most 32 characters",
    )
    refusals.reject(
        code.str.lower() == ADMIN_STORE_CODE,
        stores["code_field"],
        code,
        "'admin' is the default scope (store 0), not a store view: give default values on the image itself",
    )
    label = stores["label"].astype("str").str.normalize("NFC")
    label_given = stores["label_given"] != ""
    for mask, reason in _label_problems(label):
        refusals.reject(label_given & mask, prefix + "label", label, reason)
    position_text = stores["position"].astype("str").str.strip()
    number, position_problems = _position_check(position_text)
    for mask, reason in position_problems:
        refusals.reject(mask, prefix + "position", position_text, reason)
    disabled_true, disabled_given, not_boolean = _disabled_check(stores["disabled"])
    refusals.reject(not_boolean, prefix + "disabled", stores["disabled"], REASON_NOT_BOOLEAN)
    codes = refusals.warn_unknown_roles(prefix + "roles", stores["roles"])

    disabled = pd.array(disabled_true, dtype="boolean")
    disabled[~disabled_given.to_numpy()] = pd.NA
    ok = refusals.ok
    result = pd.DataFrame(
        {
            "file_idx": ctx["file_idx"],
            "item_no": ctx["item_no"],
            "sku": ctx["sku"],
            "seq": ctx["seq"],
            "store": code,
            "label": label.astype("object").where(label_given, None),
            "position": number.where(ok).astype("Int64"),
            "disabled": pd.Series(disabled, index=stores.index),
            "roles": codes,
            "file": ctx["file"],
            "line": ctx["line"],
        }
    ).loc[ok]
    rejections = refusals.frame()
    errors = rejections.loc[rejections["severity"] == "error", "image_seq"]
    return ValidatedStores(result.reset_index(drop=True), rejections, errors.drop_duplicates())


def _store_rows_context(stores: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """Per store row, what its rejections name: the image's file, item, seq and SKU, the row's own line."""
    rows = raw.iloc[stores["image_row"].to_numpy()]
    return pd.DataFrame(
        {
            "file_idx": rows["file_idx"].to_numpy(),
            "item_no": rows["item_no"].to_numpy(),
            "line": stores["line"].astype("int64").to_numpy(),
            "seq": rows["seq"].to_numpy(),
            "file": rows["file"].to_numpy(),
            "sku": rows["sku"].astype("str").str.strip().to_numpy(),
        },
        index=stores.index,
    )


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


def store_raw_frame(records: list[tuple]) -> pd.DataFrame:
    """A raw store-values frame from records holding the STORE_RAW_COLUMNS in order."""
    frame = pd.DataFrame.from_records(records, columns=list(STORE_RAW_COLUMNS))
    return frame.astype(
        {name: "int64" if name in ("image_row", "line") else "str" for name in STORE_RAW_COLUMNS}
    )


def collected_chunk(
    file: str,
    file_idx: int,
    raw: dict[str, list],
    items: dict[str, list],
    stores: list[tuple],
    **extras: object,
) -> RawChunk:
    """The RawChunk of rows a reader collected as column lists (raw rows, `item_lists` items, store rows)."""
    n_items = len(items["sku"])
    return RawChunk(
        raw_frame({**raw, "file_idx": file_idx, "file": file}),
        items_frame({**items, "file_idx": [file_idx] * n_items, "file": [file] * n_items}),
        stores=store_raw_frame(stores) if stores else None,
        **extras,  # type: ignore[arg-type]
    )


@dataclass
class RawChunk:
    """What a reader yields: raw image rows, the items they belong to, and format extras."""

    raw: pd.DataFrame  # RAW_COLUMNS (seq assigned by the batch assembler)
    items: pd.DataFrame  # ITEM_COLUMNS
    stores: pd.DataFrame | None = None  # STORE_RAW_COLUMNS: store-level values of the raw images
    scope: pd.DataFrame | None = None  # native CSV: file_idx, item_no, sku, managed_roles of each valid item
    request_id: str | None = None
    ignored_rows: int = 0  # rows deliberately skipped (native CSV store-view rows without images)
    merge_paths: bool = False  # native CSV: rows of one path in one item are merged, not deduplicated


# Items: one row per gallery item seen. problem_* is "" for a valid item, else why the item is rejected
# (field "sku" or "images").
ITEM_COLUMNS = (
    "file_idx",
    "item_no",
    "line",
    "file",
    "sku",
    "problem_field",
    "problem_value",
    "problem_reason",
)
ITEM_LIST_KEYS = ("item_no", "line", "sku", "problem_field", "problem_value", "problem_reason")
NO_PROBLEM = ("", "", "")  # (field, value, reason) of an item or image without a problem


def item_lists() -> dict[str, list]:
    """Empty ITEM_LIST_KEYS column lists a reader fills with `append_item` (file, file_idx come later)."""
    return {key: [] for key in ITEM_LIST_KEYS}


def append_item(
    items: dict[str, list], item_no: int, line: int, sku: str, problem: tuple[str, str, str]
) -> None:
    """Append one item (its problem, or NO_PROBLEM) to the column lists of `item_lists`."""
    for key, value in zip(ITEM_LIST_KEYS, (item_no, line, sku, *problem), strict=True):
        items[key].append(value)


def items_frame(columns: dict[str, list]) -> pd.DataFrame:
    """The ITEM_COLUMNS frame of item column lists; a missing column is filled with 0 or ""."""
    n = len(columns["sku"])
    data = {}
    for name in ITEM_COLUMNS:
        values = columns.get(name, [0 if name in ("file_idx", "item_no", "line") else ""] * n)
        dtype = "int64" if name in ("file_idx", "item_no", "line") else "str"
        data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)


def _role_columns(role_text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """`normalize_role_text` over a column, once per distinct text: (role codes, unknown role names)."""
    mapping = {text: normalize_role_text(text) for text in role_text.unique()}
    codes = role_text.map({text: pair[0] for text, pair in mapping.items()}).astype("str")
    unknown = role_text.map({text: pair[1] for text, pair in mapping.items()}).astype("str")
    return codes, unknown
