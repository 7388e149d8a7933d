"""CSV bunch files: header sniffing, chunked pandas reading, and the row-per-image gallery CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator

import pandas as pd

from nacento_pipeline.core.batch.validation import RawChunk, items_frame, raw_frame
from nacento_pipeline.core.errors import BatchFileError

GALLERY_REQUIRED = ("sku", "file_path")
GALLERY_OPTIONAL = ("label", "position", "disabled", "roles")
CSV_CHUNK_ROWS = 100_000

_LINE_IN_MESSAGE = re.compile(r"line (\d+)")
_ROW_IN_MESSAGE = re.compile(r"row (\d+)")  # pandas' 0-based record number, the header being row 0


def _line_of_parser_error(message: str) -> int:
    """The 1-based line a pandas ParserError names ("line 3" as is, "row 3" counting the header as row 0)."""
    found = _LINE_IN_MESSAGE.search(message)
    if found:
        return int(found.group(1))
    found = _ROW_IN_MESSAGE.search(message)
    return int(found.group(1)) + 1 if found else 0


def column_name(raw: str) -> str:
    """Header cells are compared trimmed and lower-cased (a BOM left by a non-UTF-8-sig reader is removed)."""
    return raw.replace("\ufeff", "").strip().lower()


def sniff_header(first_line: bytes, file: str) -> list[str]:
    """The normalised column names of a CSV's header line."""
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BatchFileError(file, f"header is not valid UTF-8 ({exc.reason})", line=1) from exc
    try:
        row = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise BatchFileError(file, f"header cannot be parsed as CSV ({exc})", line=1) from exc
    return [column_name(cell) for cell in row]


def check_gallery_header(header: list[str], file: str) -> None:
    """BatchFileError when a gallery CSV's normalised header lacks a required column."""
    missing = [name for name in GALLERY_REQUIRED if name not in header]
    if missing:
        raise BatchFileError(file, f"CSV header lacks required column(s): {', '.join(missing)}", line=1)


def read_csv_chunks(
    stream: io.BufferedReader,
    file: str,
    wanted: Iterable[str],
    chunk_rows: int = CSV_CHUNK_ROWS,
    sep: str = ",",
) -> Iterator[pd.DataFrame]:
    """Chunks of a CSV as string frames with normalised column names (only `wanted` columns) and a `line`.

    `line` counts the header as line 1; a quoted cell spanning several lines makes it a record number.
    Blank rows are dropped. Unreadable content raises BatchFileError naming the line when known; a row with
    more cells than the header is unreadable too (an unquoted separator would shift every later cell).
    """
    wanted_set = set(wanted)
    last_line = 1
    try:
        reader = pd.read_csv(
            stream,
            sep=sep,
            dtype=str,
            na_filter=False,
            keep_default_na=False,
            chunksize=chunk_rows,
            encoding="utf-8-sig",
            skip_blank_lines=False,
            engine="c",
        )
        for frame in reader:
            if not isinstance(frame.index, pd.RangeIndex):
                # pandas takes the first cell as an index when the first data row has one cell too many.
                raise BatchFileError(
                    file, "row has more cells than the header (an unquoted separator?)", line=2
                )
            frame.columns = [column_name(str(c)) for c in frame.columns]
            frame = frame.loc[:, ~frame.columns.duplicated() & frame.columns.isin(wanted_set)]
            frame["line"] = (frame.index + 2).astype("int64")
            last_line = int(frame["line"].iloc[-1]) if len(frame) else last_line
            cells = frame.drop(columns="line")
            blank = (
                (cells.apply(lambda col: col.str.strip() == "")).all(axis=1) if len(cells.columns) else None
            )
            if blank is not None and blank.any():
                frame = frame.loc[~blank]
            yield frame
    except BatchFileError:
        raise
    except UnicodeDecodeError as exc:
        raise BatchFileError(
            file, f"not valid UTF-8 after line {last_line} ({exc.reason})", line=last_line + 1
        ) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        line = _line_of_parser_error(str(exc))
        raise BatchFileError(file, f"CSV cannot be parsed: {exc}", line=line) from exc


def read_gallery_csv(
    stream: io.BufferedReader,
    file: str,
    file_idx: int,
    header: list[str],
    chunk_rows: int = CSV_CHUNK_ROWS,
) -> Iterator[RawChunk]:
    """Gallery CSV `sku,file_path,label,position,disabled,roles`: one raw row per CSV row.

    An item is every row of one SKU in the file (item_no 0), so a SKU's rows need not be adjacent.
    """
    check_gallery_header(header, file)
    for frame in read_csv_chunks(stream, file, GALLERY_REQUIRED + GALLERY_OPTIONAL, chunk_rows):
        n = len(frame)
        if not n:
            continue
        columns: dict[str, object] = {"file_idx": file_idx, "line": frame["line"], "file": file}
        for name in GALLERY_REQUIRED + GALLERY_OPTIONAL:
            if name in frame.columns:
                columns[name] = frame[name]
        raw = raw_frame(columns, index=frame.index).reset_index(drop=True)
        sku = raw["sku"].str.strip()
        firsts = raw.assign(sku=sku).loc[sku != ""].drop_duplicates("sku")
        items = items_frame(
            {
                "file_idx": [file_idx] * len(firsts),
                "item_no": [0] * len(firsts),
                "line": firsts["line"].tolist(),
                "file": [file] * len(firsts),
                "sku": firsts["sku"].tolist(),
            }
        )
        yield RawChunk(raw, items)
