"""The sensor's readability check of a bunch file.

A file the parser would refuse whole is thereby rejected before its batch is registered.

It applies the parser's own rules to what the sensor reads: a file that fits in SNIFF_BYTES is parsed
completely (core.batch.parse) and refused when the parser would refuse it as unreadable (row-level problems
are left to the run, which reports them); of a larger file only the start is checked: UTF-8, then the start
check of its registered format (core.batch.formats: the CSV header, the first complete JSON lines, the opening
of a bulk payload). The sniff and the parser thereby agree on every file the sniff can see whole (BOM,
encoding, header, quoting, nesting).
"""

from __future__ import annotations

from nacento_pipeline.core.batch.formats import format_of, whole_lines
from nacento_pipeline.core.batch.parse import parse_batch
from nacento_pipeline.core.batch.source import BunchSource, utf8_checked
from nacento_pipeline.core.errors import BatchFileError

SNIFF_BYTES = 64 * 1024


def sniff_bunch(name: str, head: bytes, total_size: int) -> str | None:
    """None when the file (of which `head` is the start) looks readable, else why it cannot be imported.

    The reason reads "<file>[:<line>]: <reason>".
    """
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
    for _ in utf8_checked(iter([whole_lines(head)]), name):
        pass
    format_of(name).check_start(name, head)
