"""Read Akeneo export files (CSV `;`/`"` with a header row, or XLSX) into core.batch.parse's raw image rows.

One item per product row (a product model's row in a `code` export): its gallery is every distinct file of
the gallery attributes, in attribute order, as the default scope (default locale and channel) shows them,
then the files only some store view shows (disabled at store 0, enabled in those store views). Roles point to
the image their attribute holds; labels come from the label attribute of the image's attribute. A store view
whose locale/channel shows other files, roles or labels gets store-level values for them. A product row
without any image is skipped (its gallery stays as it is): Akeneo exports every product of the selection.

Media cells are resolved to gallery values through `media_values` (relative path or raw key -> value,
built when the files were copied); a cell it lacks rejects that image, naming the column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import pandas as pd

from nacento_pipeline.core.akeneo.columns import ExportHeader, Scope, check_enabled_cells, read_header
from nacento_pipeline.core.akeneo.mapping import (
    LOCALES_SETTING,
    MODEL_IMAGES_VARIANTS,
    PARENT_COLUMN,
    AkeneoMapping,
    ResolvedMapping,
    resolve,
)
from nacento_pipeline.core.akeneo.media import is_export_path, relative_media_path
from nacento_pipeline.core.batch.formats import ReadContext, extension_of, whole_lines
from nacento_pipeline.core.batch.readers.csv import CSV_CHUNK_ROWS, read_csv_chunks
from nacento_pipeline.core.batch.source import BunchSource, open_binary, peek_first_line, utf8_checked
from nacento_pipeline.core.batch.validation import (
    NO_PROBLEM,
    RawChunk,
    append_item,
    collected_chunk,
    item_lists,
)
from nacento_pipeline.core.errors import BatchFileError

AKENEO_KIND = "akeneo"
CSV_DELIMITER = ";"
EXPORT_EXTENSIONS = ("csv", "xlsx")
ROLE_JOIN = "|"
XLSX_MAGIC = b"PK\x03\x04"


@dataclass
class _Image:
    value: str  # gallery value, or the cell as given when it cannot be resolved
    attribute: str
    column: str
    problem: tuple[str, str, str] = NO_PROBLEM


@dataclass
class AkeneoBatch:
    """What reading an export needs besides the files.

    That is the mapping, the copied files' gallery values and, for `model_images=variants`, the media cells of
    the product models of the batch (code -> column -> cell).
    """

    mapping: AkeneoMapping
    media_values: Mapping[str, str]
    catalog_prefix_set: bool = False
    model_cells: dict[str, dict[str, str]] = field(default_factory=dict)
    model_parents: dict[str, str] = field(default_factory=dict)


# --- rows of a file ---------------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_rows(chunks: Iterator[bytes], file: str) -> Iterator[tuple[int, list[str]]]:
    """(1-based line, cells as text) of the first sheet of an XLSX file."""
    from openpyxl import load_workbook  # the XLSX reader is only loaded for XLSX exports

    data = b"".join(chunks)
    if not data.startswith(XLSX_MAGIC):
        raise BatchFileError(file, "not an XLSX file (an XLSX export is a zip archive)", line=0)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken archive
        raise BatchFileError(file, f"XLSX cannot be read: {type(exc).__name__}: {exc}") from exc
    try:
        sheet = book.worksheets[0]
        for line, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, [_cell_text(value) for value in row]
    finally:
        book.close()


def _xlsx_frames(
    chunks: Iterator[bytes], file: str, chunk_rows: int
) -> tuple[list[str], Iterator[pd.DataFrame]]:
    rows = _xlsx_rows(chunks, file)
    first = next(rows, None)
    if first is None:
        raise BatchFileError(file, "the export has no header line", line=1)
    header = first[1]
    width = len(header)

    def frames() -> Iterator[pd.DataFrame]:
        batch: list[list[str]] = []
        lines: list[int] = []
        for line, cells in rows:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > width and any(cell.strip() for cell in cells[width:]):
                raise BatchFileError(file, "row has more cells than the header", line=line)
            batch.append((cells + [""] * width)[:width])
            lines.append(line)
            if len(batch) >= chunk_rows:
                yield _frame(header, batch, lines)
                batch, lines = [], []
        if batch:
            yield _frame(header, batch, lines)

    return header, frames()


def _frame(header: list[str], rows: list[list[str]], lines: list[int]) -> pd.DataFrame:
    columns = [cell.replace("\ufeff", "").strip().lower() for cell in header]
    frame = pd.DataFrame(rows, columns=columns, dtype="str")
    frame = frame.loc[:, ~frame.columns.duplicated()]
    frame["line"] = pd.Series(lines, dtype="int64")
    return frame


def _header_cells(first_line: bytes, file: str) -> list[str]:
    """The header cells of an export CSV as written (their case tells a translated header)."""
    try:
        return next(
            csv.reader(io.StringIO(first_line.decode("utf-8-sig"), newline=""), delimiter=CSV_DELIMITER), []
        )
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchFileError(file, f"header cannot be read as CSV ({exc})", line=1) from exc


def export_frames(
    source: BunchSource, chunk_rows: int = CSV_CHUNK_ROWS
) -> tuple[ExportHeader, Callable[[list[str]], Iterator[pd.DataFrame]]]:
    """(the header of an export file, a function giving its rows as string frames of the wanted columns)."""
    ext = extension_of(source.name)
    if ext == "xlsx":
        cells, frames = _xlsx_frames(source.chunks(), source.name, chunk_rows)
        header = read_header(cells, source.name)

        def xlsx_rows(wanted: list[str]) -> Iterator[pd.DataFrame]:
            keep = [c for c in dict.fromkeys(wanted) if c in header.columns]
            for frame in frames:
                yield frame[[*keep, "line"]]

        return header, xlsx_rows
    if ext != "csv":
        raise BatchFileError(source.name, f"an Akeneo export file is .csv or .xlsx, not {ext!r}")
    first, chunks = peek_first_line(utf8_checked(source.chunks(), source.name))
    if not first.strip():
        raise BatchFileError(source.name, "the export has no header line", line=1)
    header = read_header(_header_cells(first, source.name), source.name)

    def csv_rows(wanted: list[str]) -> Iterator[pd.DataFrame]:
        for frame in read_csv_chunks(open_binary(chunks), source.name, wanted, chunk_rows, sep=CSV_DELIMITER):
            yield frame.reindex(columns=[*[c for c in dict.fromkeys(wanted) if c in header.columns], "line"])

    return header, csv_rows


# --- one product row --------------------------------------------------------------------------------------


def _resolve_cell(batch: AkeneoBatch, cell: str, column: str, attribute: str) -> _Image:
    path = relative_media_path(cell)
    value = batch.media_values.get(path)
    if value is not None:
        return _Image(value, attribute, column)
    if is_export_path(path):
        reason = f"media file {path} is not in the export folder"
    elif batch.catalog_prefix_set:
        reason = f"media file {path} is not in Akeneo's catalog storage"
    else:
        reason = (
            f"{path} is a raw catalog-storage key (an export without with_media): set "
            f"NACENTO_AKENEO_CATALOG_PREFIX or export with with_media"
        )
    return _Image(path, attribute, column, (column, path, reason))


def _scope_images(
    batch: AkeneoBatch, resolved: ResolvedMapping, cells: Mapping[str, str], scope: Scope
) -> dict[str, _Image]:
    """Gallery attribute -> the image it holds in a scope (attributes without a file left out)."""
    images = {}
    for attribute in resolved.gallery:
        column = attribute.column_for(scope)
        cell = cells.get(column, "") if column else ""
        if cell.strip():
            images[attribute.attribute] = _resolve_cell(batch, cell, column or "", attribute.attribute)
    return images


def _label(resolved: ResolvedMapping, cells: Mapping[str, str], attribute: str, scope: Scope) -> str:
    columns = resolved.labels.get(attribute)
    column = columns.column_for(scope) if columns else None
    return cells.get(column, "").strip() if column else ""


_RAW_KEYS = (
    "item_no",
    "line",
    "sku",
    "file_path",
    "label",
    "position",
    "disabled",
    "roles",
    "pre_field",
    "pre_value",
    "pre_reason",
    "column",
)


@dataclass
class _Collector:
    file: str
    file_idx: int
    raw: dict[str, list] = field(default_factory=lambda: {k: [] for k in _RAW_KEYS})
    items: dict[str, list] = field(default_factory=item_lists)
    stores: list[tuple] = field(default_factory=list)
    skipped: int = 0

    def chunk(self) -> RawChunk:
        chunk = collected_chunk(
            self.file, self.file_idx, self.raw, self.items, self.stores, ignored_rows=self.skipped
        )
        self.raw = {k: [] for k in _RAW_KEYS}
        self.items, self.stores, self.skipped = item_lists(), [], 0
        return chunk


def _roles_of(resolved: ResolvedMapping, images: Mapping[str, _Image], value: str) -> list[str]:
    return [
        role
        for role, attribute in resolved.roles.items()
        if attribute in images and images[attribute].value == value
    ]


def _add_row(
    out: _Collector, batch: AkeneoBatch, resolved: ResolvedMapping, cells: Mapping[str, str], line: int
) -> None:
    sku = cells.get(resolved.identifier_column, "").strip()
    if not sku:
        append_item(out.items, line, line, "", (resolved.identifier_column, "", "identifier is empty"))
        return
    default = _scope_images(batch, resolved, cells, resolved.default_scope)
    per_store = [
        (store, scope, _scope_images(batch, resolved, cells, scope)) for store, scope in resolved.store_scopes
    ]
    gallery: dict[str, _Image] = {}
    for image in default.values():
        gallery.setdefault(image.value, image)
    for _store, _scope, images in per_store:
        for image in images.values():
            gallery.setdefault(image.value, image)
    if not gallery:
        out.skipped += 1
        return
    append_item(out.items, line, line, sku, NO_PROBLEM)
    default_values = {image.value for image in default.values()}
    for position, (value, image) in enumerate(gallery.items(), start=1):
        image_row = len(out.raw["sku"])
        default_roles = _roles_of(resolved, default, value)
        default_label = _label(resolved, cells, image.attribute, resolved.default_scope)
        disabled = value not in default_values
        for name, cell in zip(
            _RAW_KEYS,
            (
                line,
                line,
                sku,
                value,
                default_label,
                str(position),
                "1" if disabled else "0",
                ROLE_JOIN.join(default_roles),
                *image.problem,
                image.column,
            ),
            strict=True,
        ):
            out.raw[name].append(cell)
        for store, scope, images in per_store:
            _add_store_values(
                out,
                resolved,
                cells,
                image_row,
                line,
                store,
                scope,
                images,
                value,
                image,
                (disabled, default_roles, default_label),
            )


def _add_store_values(
    out: _Collector,
    resolved: ResolvedMapping,
    cells: Mapping[str, str],
    image_row: int,
    line: int,
    store: str,
    scope: Scope,
    images: Mapping[str, _Image],
    value: str,
    image: _Image,
    default: tuple[bool, list[str], str],
) -> None:
    default_disabled, default_roles, default_label = default
    disabled = value not in {shown.value for shown in images.values()}
    roles = _roles_of(resolved, images, value)
    label = _label(resolved, cells, image.attribute, scope)
    set_disabled = ("1" if disabled else "0") if disabled != default_disabled else ""
    set_roles = ROLE_JOIN.join(roles) if roles != default_roles else ""
    set_label = label if label and label != default_label else ""
    if set_disabled or set_roles or set_label:
        out.stores.append(
            (
                image_row,
                line,
                store,
                f"{LOCALES_SETTING}.{scope.locale}",
                "",
                set_label,
                "1" if set_label else "",
                "",
                set_disabled,
                set_roles,
                *NO_PROBLEM,
            )
        )


def _inherit(batch: AkeneoBatch, resolved: ResolvedMapping, cells: dict[str, str]) -> dict[str, str]:
    """`model_images=variants`: a row's empty gallery cells filled from its parent models in the batch."""
    parent = cells.get(PARENT_COLUMN, "").strip()
    seen: set[str] = set()
    while parent and parent not in seen:
        seen.add(parent)
        inherited = batch.model_cells.get(parent, {})
        for attribute in resolved.gallery:
            for column in attribute.columns.values():
                if not cells.get(column, "").strip() and inherited.get(column, "").strip():
                    cells[column] = inherited[column]
        parent = batch.model_parents.get(parent, "")
    return cells


def read_export(source: BunchSource, context: ReadContext, batch: AkeneoBatch) -> Iterator[RawChunk]:
    """The raw chunks of one export file (one chunk per `context.chunk_rows` product rows)."""
    context.kind = AKENEO_KIND
    header, rows = export_frames(source, context.chunk_rows)
    resolved = resolve(batch.mapping, header)
    wanted = resolved.wanted_columns()
    for frame in rows(wanted):
        if "enabled" in frame.columns:
            check_enabled_cells(frame["enabled"], frame["line"], source.name)
        out = _Collector(source.name, context.file_idx)
        columns = [c for c in frame.columns if c != "line"]
        for values in frame.itertuples(index=False, name=None):
            cells = dict(zip(columns, (str(v) for v in values[:-1]), strict=True))
            if batch.mapping.model_images == MODEL_IMAGES_VARIANTS and not resolved.is_model_export:
                cells = _inherit(batch, resolved, cells)
            _add_row(out, batch, resolved, cells, int(values[-1]))
        yield out.chunk()


def collect_models(sources: list[BunchSource], batch: AkeneoBatch) -> None:
    """Remember the gallery cells and parents of every product model row of the batch (for `variants`)."""
    for source in sources:
        header, rows = export_frames(source)
        resolved = resolve(batch.mapping, header)
        if not resolved.is_model_export:
            continue
        for frame in rows(resolved.wanted_columns()):
            columns = [c for c in frame.columns if c != "line"]
            for values in frame.itertuples(index=False, name=None):
                cells = dict(zip(columns, (str(v) for v in values[:-1]), strict=True))
                code = cells.get(resolved.identifier_column, "").strip()
                if code:
                    batch.model_cells[code] = cells
                    if cells.get(PARENT_COLUMN, "").strip():
                        batch.model_parents[code] = cells[PARENT_COLUMN].strip()


def media_cells(sources: list[BunchSource], mapping: AkeneoMapping) -> list[str]:
    """Every distinct media cell of the mapped gallery attributes in the export files (for placing raw keys).

    Files that cannot be read are left to the parse, which reports them.
    """
    found: dict[str, None] = {}
    for source in sources:
        try:
            header, rows = export_frames(source)
            resolved = resolve(mapping, header)
            columns = [c for attribute in resolved.gallery for c in attribute.columns.values()]
            for frame in rows([resolved.identifier_column, *columns]):
                for column in columns:
                    if column in frame.columns:
                        for cell in frame[column].tolist():
                            if str(cell).strip():
                                found[relative_media_path(str(cell))] = None
        except BatchFileError:
            continue
    return list(found)


def export_reader(batch: AkeneoBatch) -> Callable[[BunchSource, ReadContext], Iterator[RawChunk]]:
    """A `parse_batch` reader for the export files of one Akeneo batch."""

    def read(source: BunchSource, context: ReadContext) -> Iterator[RawChunk]:
        yield from read_export(source, context, batch)

    return read


def sniff_export(name: str, head: bytes, total_size: int) -> str | None:
    """The sensor's check of an export file (of which `head` is the start).

    None when it looks readable, else "<file>[:<line>]: <reason>". A file seen whole is read completely
    (header and `enabled` cells); of a larger one the header of a CSV, the archive signature of an XLSX.
    """
    if total_size == 0 or not head:
        return f"{name}: the file is empty"
    whole = len(head) >= total_size
    try:
        ext = extension_of(name)
        if ext == "xlsx" and not head.startswith(XLSX_MAGIC):
            raise BatchFileError(name, "not an XLSX file (an XLSX export is a zip archive)")
        if ext == "xlsx" and not whole:
            return None
        data = head if whole else whole_lines(head)
        header, rows = export_frames(BunchSource.from_bytes(name, data))
        if whole and header.has("enabled"):
            for frame in rows(["enabled"]):
                check_enabled_cells(frame["enabled"], frame["line"], name)
    except BatchFileError as exc:
        return str(exc)
    return None
