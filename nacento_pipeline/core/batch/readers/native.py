"""Magento's native product import CSV: image columns exploded into raw image rows, then merged per path.

The file is read with the import's semantics (`Import/Product.php`, behaviour "Add/Update").

- Only what a row gives is set: a role column (`base_image` -> image, `small_image`, `thumbnail_image` ->
  thumbnail, `swatch_image`) that is empty, `__EMPTY__VALUE__` or `no_selection` leaves that role alone
  (Magento's import never clears a role from a CSV); each valid item reports the roles it sets (`scope`).
- Merge rules when one path appears in several columns of a row (e.g. `base_image` and `additional_images`):
  roles: the union of the role columns naming it; label: the first non-empty label in column order base,
  small, thumbnail, swatch, additional; position: its entry in `additional_image_positions` (an M2IF column)
  when given, else not given (<NA>: the writer appends it after the product's images, in column order);
  disabled: true when the path is listed in `hide_from_product_page`, else <NA> (not given: the import never
  re-enables an image); label None when no label column names it (not given: an existing label stays). A
  listed path that no image column names is added as a disabled image, as Magento does.
- A row with a `store_view_code` carries store-level values (`stores`) of the images it names: the label
  columns' labels, `additional_image_positions`, the role columns (roles in that store view) and
  `hide_from_product_page` (disabled in that store view). It belongs to the item of the last valid
  default-scope row of its SKU above it in the file; without one it is an item of its own. An image it names
  that its item does not list is added to the gallery (no label, no role, enabled, at store 0), as Magento's
  import adds it at the default scope. Store-view rows without image columns are ignored and counted.
- Every `media_image` attribute of the shop is an image column, as Magento's import reads them
  (`Import/Product.php` `getImagesFromRow` over `_imagesArrayKeys`, filled by
  `ImageTypeProcessor::getImageTypes` from `eav_attribute`): a column named by a custom role's attribute code
  (given in `custom_roles`) names the image holding that role, its `<code>_label` column the image's label,
  like the four standard columns.
- `__EMPTY__VALUE__` is an explicitly empty cell or list entry. A default-scope row whose image columns are
  all empty is an item without images (rejected, field "images").
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd

from nacento_pipeline.core.batch.readers.csv import CSV_CHUNK_ROWS, read_csv_chunks
from nacento_pipeline.core.batch.validation import (
    NO_PROBLEM,
    RawChunk,
    append_item,
    item_lists,
    items_frame,
    raw_frame,
    store_raw_frame,
)
from nacento_pipeline.core.delta.roles import ROLE_SEPARATOR, ordered_roles, role_text
from nacento_pipeline.core.errors import BatchFileError
from nacento_pipeline.core.frames import NO_SELECTION, ROLE_CODES

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
    """Whether a CSV header is a native import's: a `sku` column and at least one image column."""
    return "sku" in header and any(name in header for name in IMAGE_COLUMNS)


def role_columns(header: list[str], custom_roles: tuple[str, ...] = ()) -> tuple[tuple[str, str, str], ...]:
    """(path column, label column, role code) of a native CSV's image columns.

    The four standard ones, then one per custom media_image attribute code the header names (its label column
    `<code>_label`).
    """
    standard = {code for _, _, code in ROLE_COLUMNS} | {path for path, _, _ in ROLE_COLUMNS}
    custom = tuple(
        (code, f"{code}_label", code)
        for code in dict.fromkeys(custom_roles)
        if code in header and code not in standard and code not in NATIVE_COLUMNS
    )
    return ROLE_COLUMNS + custom


def _cell(value: str) -> str:
    value = value.strip()
    return "" if value == EMPTY_VALUE else value


def _split(value: str, separator: str) -> list[str]:
    if not value.strip():
        return []
    return [_cell(part) for part in value.split(separator)]


def _is_image(path: str) -> bool:
    """Magento skips empty cells, `__EMPTY__VALUE__` (already "" after _cell) and `no_selection` as images."""
    return bool(path) and path != NO_SELECTION


def _add_item(
    items: dict[str, list],
    scope: dict[str, list],
    item_no: int,
    sku: str,
    problem: tuple[str, str, str],
    managed: str,
) -> None:
    append_item(items, item_no, item_no, sku, problem)
    if not problem[0]:
        scope["item_no"].append(item_no)
        scope["sku"].append(sku)
        scope["managed_roles"].append(managed)


def _sku_problem(given: str, sku: str) -> tuple[str, str, str]:
    return ("sku", given, "SKU is empty") if not sku else NO_PROBLEM


_RAW_KEYS = (
    "item_no",
    "line",
    "sku",
    "file_path",
    "label",
    "position",
    "roles",
    "disabled",
    "origin",
    "column",
)
_Image = tuple[str, str, str, str, str, str]  # path, label, position, role, disabled, column


@dataclass
class _ChunkRows:
    """The rows one chunk of a native CSV adds: raw images, store-level values, items and their role scope."""

    raw: dict[str, list] = field(default_factory=lambda: {k: [] for k in _RAW_KEYS})
    stores: list[tuple] = field(default_factory=list)  # batch_validate.STORE_RAW_COLUMNS records
    items: dict[str, list] = field(default_factory=item_lists)
    scope: dict[str, list] = field(
        default_factory=lambda: {k: [] for k in ("item_no", "sku", "managed_roles")}
    )
    ignored: int = 0

    def add_raw(self, values: tuple) -> None:
        for key, value in zip(_RAW_KEYS, values, strict=True):
            self.raw[key].append(value)

    def to_chunk(self, file: str, file_idx: int) -> RawChunk:
        raw_rows = raw_frame({**self.raw, "file_idx": file_idx, "file": file})
        n_items = len(self.items["sku"])
        item_rows = items_frame({**self.items, "file_idx": [file_idx] * n_items, "file": [file] * n_items})
        store_rows = store_raw_frame(self.stores) if self.stores else None
        scope_rows = pd.DataFrame({**self.scope, "file_idx": file_idx}).astype(
            {"item_no": "int64", "sku": "str", "managed_roles": "str", "file_idx": "int64"}
        )
        return RawChunk(
            raw_rows,
            item_rows,
            stores=store_rows,
            scope=scope_rows,
            ignored_rows=self.ignored,
            merge_paths=True,
        )


def _row_images(
    cols: dict[str, list[str]],
    i: int,
    list_separator: str,
    roles: tuple[tuple[str, str, str], ...] = ROLE_COLUMNS,
) -> tuple[list[_Image], bool]:
    """(the images row `i` names, whether an image column holds `__EMPTY__VALUE__`).

    The images come from the role columns, the additional images and the hidden paths.
    """
    images: list[_Image] = []
    explicit_empty = False
    for path_col, label_col, role in roles:
        cell = cols[path_col][i]
        explicit_empty |= cell.strip() == EMPTY_VALUE
        path = _cell(cell)
        if _is_image(path):
            images.append((path, _cell(cols[label_col][i]), "", role, "", path_col))
    additional = cols["additional_images"][i]
    explicit_empty |= additional.strip() == EMPTY_VALUE
    labels = _split(cols["additional_image_labels"][i], list_separator)
    positions = _split(cols["additional_image_positions"][i], list_separator)
    for k, path in enumerate(_split(additional, list_separator)):
        if _is_image(path):
            label = labels[k] if k < len(labels) else ""
            position = positions[k] if k < len(positions) else ""
            images.append((path, label, position, "", "", "additional_images"))
    for path in _split(cols["hide_from_product_page"][i], list_separator):
        if _is_image(path):
            images.append((path, "", "", "", "1", "hide_from_product_page"))
    return images, explicit_empty


def _add_store_row(
    rows: _ChunkRows, item_of_sku: dict[str, int], line: int, given_sku: str, store: str, images: list[_Image]
) -> None:
    """A store-view row: its images' values for `store`, joining the SKU's last default-scope item.

    Without such an item the row is an item of its own; a row without images is ignored and counted.
    """
    if not images:
        rows.ignored += 1
        return
    sku = given_sku.strip()
    item_no = item_of_sku.get(sku) if sku else None
    if item_no is None:
        item_no = line
        problem = _sku_problem(given_sku, sku)
        _add_item(rows.items, rows.scope, item_no, sku, problem, "")
        if problem[0]:
            return
        item_of_sku[sku] = item_no
    for path, label, position, role, disabled, column in images:
        rows.stores.append(
            (
                len(rows.raw["sku"]),
                line,
                store,
                "store_view_code",
                "",
                label,
                "1" if label else "",
                position,
                disabled,
                role,
                "",
                "",
                "",
            )
        )
        rows.add_raw((item_no, line, sku, path, "", "", "", "", "store", column))


def _add_default_row(
    rows: _ChunkRows,
    item_of_sku: dict[str, int],
    line: int,
    given_sku: str,
    images: list[_Image],
    explicit_empty: bool,
    role_codes: tuple[str, ...] = ROLE_CODES,
) -> None:
    """A default-scope row: one item (item_no = line) with its images, or rejected as a whole."""
    sku = given_sku.strip()
    problem = _sku_problem(given_sku, sku)
    if not problem[0] and not images:
        reason = (
            "all image columns are __EMPTY__VALUE__: an empty gallery is never applied"
            if explicit_empty
            else "no images: every image column is empty"
        )
        problem = ("images", "", reason)
    managed = "|".join(code for code in role_codes if any(image[3] == code for image in images))
    _add_item(rows.items, rows.scope, line, sku, problem, managed)
    if problem[0]:
        return
    item_of_sku[sku] = line
    for path, label, position, role, disabled, column in images:
        rows.add_raw((line, line, sku, path, label, position, role, disabled, "", column))


def read_native_csv(
    stream: io.BufferedReader,
    file: str,
    file_idx: int,
    header: list[str],
    list_separator: str = ",",
    chunk_rows: int = CSV_CHUNK_ROWS,
    custom_roles: tuple[str, ...] = (),
) -> Iterator[RawChunk]:
    """Raw rows of a native import CSV; one item per default-scope row (item_no = line), see module docstring.

    `custom_roles`: the codes of the shop's other media_image attributes (their columns are image columns).
    """
    roles = role_columns(header, custom_roles)
    if not is_native_header(header) and not ("sku" in header and len(roles) > len(ROLE_COLUMNS)):
        raise BatchFileError(file, "CSV header has no `sku` or no image column", line=1)
    columns = NATIVE_COLUMNS + tuple(
        name for path, label, _ in roles[len(ROLE_COLUMNS) :] for name in (path, label)
    )
    codes = tuple(code for _, _, code in roles)
    item_of_sku: dict[
        str, int
    ] = {}  # SKU -> item_no of its last valid default-scope row (store rows join it)
    for frame in read_csv_chunks(stream, file, columns, min(chunk_rows, NATIVE_CHUNK_ROWS)):
        cols = {
            name: (frame[name].tolist() if name in frame.columns else [""] * len(frame)) for name in columns
        }
        rows = _ChunkRows()
        for i, line in enumerate(frame["line"].tolist()):
            images, explicit_empty = _row_images(cols, i, list_separator, roles)
            store = cols["store_view_code"][i].strip()
            if store:
                _add_store_row(rows, item_of_sku, line, cols["sku"][i], store, images)
            else:
                _add_default_row(rows, item_of_sku, line, cols["sku"][i], images, explicit_empty, codes)
        yield rows.to_chunk(file, file_idx)


def merge_native_images(images: pd.DataFrame) -> pd.DataFrame:
    """Merge a native chunk's valid raw images per (item, value) by the module's rules.

    `from_store` (an image only store-view rows name) stays true only when no default-scope row names it.
    """
    keys = ["file_idx", "item_no", "value"]
    if images.empty:
        return images.reset_index(drop=True)
    ordered = images.sort_values("seq", kind="stable")
    codes = ordered_roles(set(ordered["roles"].astype(str)) - {""} | set(ROLE_CODES))
    flags = pd.DataFrame({code: ordered["roles"] == code for code in codes})
    flags["disabled"] = ordered["disabled"]
    flags["from_store"] = ordered["from_store"]
    flags["label"] = ordered["label"].where(ordered["label"] != "")
    # Groups in order of first appearance: the same order as the first rows kept below.
    grouped = pd.concat([ordered[keys], flags], axis=1).groupby(keys, sort=False)
    anyof = grouped[[*codes, "disabled"]].any()
    merged = ordered.drop_duplicates(keys, keep="first").set_index(keys)
    # Magento's import changes only what the CSV says: no label and not hidden mean "leave as it is"
    # (None / <NA>), so an existing image keeps its label and an admin's disabled flag.
    merged["label"] = (
        grouped["label"].first().astype(object).where(grouped["label"].first().notna(), None).to_numpy()
    )
    merged["roles"] = role_text(anyof[list(ROLE_CODES)].to_numpy())
    for code in codes[
        len(ROLE_CODES) :
    ]:  # custom roles after the standard ones (core.delta.roles.ordered_roles)
        has = anyof[code].to_numpy()
        merged.loc[has, "roles"] = (merged.loc[has, "roles"] + ROLE_SEPARATOR).str.lstrip(
            ROLE_SEPARATOR
        ) + code
    disabled = anyof["disabled"].to_numpy().astype(object)
    disabled[disabled != True] = None  # noqa: E712 - elementwise: True stays, anything else is "not set"
    merged["disabled"] = pd.array(disabled, dtype="boolean")
    merged["from_store"] = grouped["from_store"].all().to_numpy()
    explicit = ordered.loc[ordered["position_given"]].groupby(keys, sort=False)["position"].first()
    merged["position"] = explicit.reindex(merged.index).astype("Int64")
    merged["position_given"] = merged["position"].notna()
    return merged.reset_index().sort_values("seq", kind="stable").reset_index(drop=True)
