"""The sensor's readability check of a bunch file, so a file the parser would refuse whole is rejected
before its batch is registered.

It applies the parser's own rules (core.batch) to what the sensor reads: a file that fits in SNIFF_BYTES is
parsed completely and refused when the parser would refuse it as unreadable (row-level problems are left to
the run, which reports them); of a larger file only the start is checked: UTF-8, the CSV header, the first
complete JSON lines, the opening of a bulk payload. The sniff and the parser thereby agree on every file
the sniff can see whole (BOM, encoding, header, quoting, nesting).
"""

from __future__ import annotations

from nacento_pipeline.core.batch import csv_format, parse_batch
from nacento_pipeline.core.batch_csv import sniff_header
from nacento_pipeline.core.batch_json import looks_like_json_lines, read_json_lines
from nacento_pipeline.core.batch_source import BunchSource, open_binary, peek_first_line, utf8_checked
from nacento_pipeline.core.errors import BatchFileError

SNIFF_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"


def sniff_bunch(name: str, head: bytes, total_size: int) -> str | None:
    """None when the file (of which `head` is the start) looks readable, else why it cannot be imported,
    as "<file>[:<line>]: <reason>"."""
    if total_size == 0 or not head:
        return f"{name}: the file is empty"
    try:
        if len(head) >= total_size:
            parse_batch([BunchSource.from_bytes(name, head)], fail_fast=True)
        else:
            _check_start(name, head)
    except BatchFileError as exc:
        return str(exc)
    return None


def _check_start(name: str, head: bytes) -> None:
    """Raise BatchFileError for what the start of a larger file already shows to be unreadable."""
    complete = head[: head.rfind(b"\n") + 1]  # the whole lines of the head
    for _ in utf8_checked(iter([complete]), name):
        pass
    ext = BunchSource(name, lambda: iter(())).extension
    text_start = head[len(_BOM):] if head.startswith(_BOM) else head
    if ext == "csv":
        first, _ = peek_first_line(iter([complete]))
        if complete.strip():
            csv_format(sniff_header(first, name), name)
    elif ext in ("json", "jsonl"):
        first, _ = peek_first_line(iter([complete]))
        if ext == "jsonl" or (complete.strip() and looks_like_json_lines(first)):
            for _chunk in read_json_lines(open_binary(iter([complete])), name, 0):
                pass
        elif not text_start.lstrip().startswith(b"{"):
            raise BatchFileError(name, 'JSON bulk payload must be an object {"request": {"items": [...]}}',
                                 line=1)
    else:
        raise BatchFileError(name, f"unsupported extension {ext!r} (expected csv, json or jsonl)")
