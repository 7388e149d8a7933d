"""The bunch formats a drop may hold, in one registry that every gate consults.

- the drop convention (core.drop.dropzone) accepts a bunch file name whose extension is registered, and names
  the registered formats when it refuses one;
- the sensor's sniff (core.batch.sniffing) checks the start of a large bunch file with its format's
  `check_start` before the batch is registered;
- the parser (core.batch.parse) reads each bunch file with its format's `read`.

A format is an extension (or several) with a reader, a start check and a one-line description. Adding one is
a `register_format(BunchFormat(...))` call plus its reader: nothing else needs to know about it. Readers get
the file's bytes already checked to be UTF-8 and yield `RawChunk`s (raw image rows and their items) that the
one validator of core.batch.validation checks, whatever the format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from nacento_pipeline.core.batch.readers.csv import (
    CSV_CHUNK_ROWS,
    check_gallery_header,
    read_gallery_csv,
    sniff_header,
)
from nacento_pipeline.core.batch.readers.json import (
    looks_like_json_lines,
    read_json_bulk,
    read_json_lines,
    without_bom,
)
from nacento_pipeline.core.batch.readers.native import NATIVE_COLUMNS, is_native_header, read_native_csv
from nacento_pipeline.core.batch.source import open_binary, peek_first_line
from nacento_pipeline.core.batch.validation import RawChunk
from nacento_pipeline.core.errors import BatchFileError
from nacento_pipeline.core.objects import key_name

OK_EXTENSION = "ok"  # the OK file that completes a batch: never a bunch format
GALLERY_KIND = "gallery"
NATIVE_KIND = "native"  # a batch of native import CSVs only is applied in append mode
JSON_KIND = "json"


@dataclass
class ReadContext:
    """What a reader is told about the file it reads.

    `kind` is set by the reader once the content is known (e.g. a `.csv` is a gallery or a native import CSV).
    """

    file: str
    file_idx: int
    list_separator: str = ","
    chunk_rows: int = CSV_CHUNK_ROWS
    kind: str = ""
    # The shop's custom media_image attribute codes (image columns of a native CSV), asked for only when a
    # native CSV's header has columns beyond the standard image columns.
    custom_roles: Callable[[], tuple[str, ...]] = field(default=lambda: (), repr=False)


Reader = Callable[[Iterator[bytes], ReadContext], Iterator[RawChunk]]
StartCheck = Callable[[str, bytes], None]  # (file name, first bytes of a large file): raise BatchFileError


@dataclass(frozen=True)
class BunchFormat:
    """One bunch format: its extensions, reader, start check and description.

    The extensions (lower case, no dot) are what it is recognised by; the check of a large file's start raises
    BatchFileError for what the start already shows to be unreadable; the one-line description is for people
    (rejection messages, docs).
    """

    extensions: tuple[str, ...]
    read: Reader
    check_start: StartCheck
    description: str


_REGISTRY: dict[str, BunchFormat] = {}


def register_format(bunch_format: BunchFormat) -> BunchFormat:
    """Make a format known to the drop convention, the sniff and the parser; its extensions must be free."""
    for ext in bunch_format.extensions:
        if ext != ext.lower() or not ext or "." in ext:
            raise ValueError(f"extension {ext!r} must be lower case, without a dot")
        if ext == OK_EXTENSION or ext in _REGISTRY:
            raise ValueError(f"extension {ext!r} is already taken")
    for ext in bunch_format.extensions:
        _REGISTRY[ext] = bunch_format
    return bunch_format


def unregister_format(bunch_format: BunchFormat) -> None:
    """Forget a format registered before (tests register toy formats and remove them afterwards)."""
    for ext in bunch_format.extensions:
        if _REGISTRY.get(ext) is bunch_format:
            del _REGISTRY[ext]


def bunch_extensions() -> tuple[str, ...]:
    """The extensions a bunch file may have, in registration order."""
    return tuple(_REGISTRY)


def registered_formats() -> str:
    """The registered formats for people: `.csv (gallery CSV ...), .json (...)`."""
    return ", ".join(
        f"{'/'.join('.' + ext for ext in fmt.extensions)} ({fmt.description})"
        for fmt in dict.fromkeys(_REGISTRY.values())
    )


def extension_of(name: str) -> str:
    """Lower-cased extension of a file name or key, without the dot; "" when it has none."""
    base = key_name(name)
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def format_of(file: str) -> BunchFormat:
    """The registered format of a bunch file, by its extension; BatchFileError naming the registered ones."""
    ext = extension_of(file)
    found = _REGISTRY.get(ext)
    if found is None:
        raise BatchFileError(
            file, f"unsupported extension {ext!r} (registered formats: {registered_formats()})"
        )
    return found


def whole_lines(head: bytes) -> bytes:
    """The complete lines at the start of a file's first bytes (the last, possibly cut, line left out)."""
    return head[: head.rfind(b"\n") + 1]


# --- CSV: gallery CSV (row per image) or Magento's native import CSV, told apart by the header --------------


def csv_kind(header: list[str], file: str) -> str:
    """GALLERY_KIND or NATIVE_KIND from a CSV's normalised header; BatchFileError when it is neither."""
    if "file_path" in header:
        check_gallery_header(header, file)
        return GALLERY_KIND
    if is_native_header(header):
        return NATIVE_KIND
    raise BatchFileError(
        file,
        "CSV header has neither `sku,file_path` (gallery CSV) nor `sku` with image columns "
        "(native import CSV)",
        line=1,
    )


def _read_csv(chunks: Iterator[bytes], context: ReadContext) -> Iterator[RawChunk]:
    first, chunks = peek_first_line(chunks)
    if not first.strip():
        raise BatchFileError(context.file, "CSV file is empty (no header line)", line=1)
    header = sniff_header(first, context.file)
    context.kind = csv_kind(header, context.file)
    stream = open_binary(chunks)
    if context.kind == GALLERY_KIND:
        yield from read_gallery_csv(stream, context.file, context.file_idx, header, context.chunk_rows)
    else:
        extra = set(header) - set(NATIVE_COLUMNS)
        yield from read_native_csv(
            stream,
            context.file,
            context.file_idx,
            header,
            context.list_separator,
            context.chunk_rows,
            custom_roles=context.custom_roles() if extra else (),
        )


def _check_csv_start(file: str, head: bytes) -> None:
    lines = whole_lines(head)
    if lines.strip():
        first, _ = peek_first_line(iter([lines]))
        csv_kind(sniff_header(first, file), file)


# --- JSON: the connector's bulk payload, or JSON Lines (one item a line) ------------------------------------


def _read_json(chunks: Iterator[bytes], context: ReadContext) -> Iterator[RawChunk]:
    context.kind = JSON_KIND
    first, chunks = peek_first_line(chunks)
    if looks_like_json_lines(first):
        yield from read_json_lines(open_binary(chunks), context.file, context.file_idx)
    else:
        yield from read_json_bulk(open_binary(chunks), context.file, context.file_idx)


def _read_jsonl(chunks: Iterator[bytes], context: ReadContext) -> Iterator[RawChunk]:
    context.kind = JSON_KIND
    yield from read_json_lines(open_binary(chunks), context.file, context.file_idx)


def _check_json_lines_start(file: str, head: bytes) -> None:
    for _chunk in read_json_lines(open_binary(iter([whole_lines(head)])), file, 0):
        pass


def _check_json_start(file: str, head: bytes) -> None:
    lines = whole_lines(head)
    if lines.strip() and looks_like_json_lines(peek_first_line(iter([lines]))[0]):
        _check_json_lines_start(file, head)
    elif not without_bom(head).lstrip().startswith(b"{"):
        raise BatchFileError(
            file, 'JSON bulk payload must be an object {"request": {"items": [...]}}', line=1
        )


CSV_FORMAT = register_format(
    BunchFormat(
        ("csv",),
        _read_csv,
        _check_csv_start,
        "gallery CSV `sku,file_path,...` or Magento's native import CSV",
    )
)
JSON_FORMAT = register_format(
    BunchFormat(
        ("json",),
        _read_json,
        _check_json_start,
        'JSON bulk payload {"request": {"items": [...]}} or JSON Lines',
    )
)
JSONL_FORMAT = register_format(
    BunchFormat(("jsonl",), _read_jsonl, _check_json_lines_start, "JSON Lines, one item object a line")
)
