"""A cheap readability check of a bunch file from its first bytes, so the sensor can refuse junk early.

The full parse (with line/field errors) happens in the `pim_batch` asset; this only answers "could this
possibly be a bunch file of its declared kind?" without reading the whole object.
"""

from __future__ import annotations

import codecs

SNIFF_BYTES = 64 * 1024
_CSV_REQUIRED = "sku"


def sniff_bunch(name: str, head: bytes, total_size: int) -> str | None:
    """None when the start of the file looks readable, else the reason it cannot be imported."""
    if total_size == 0 or not head:
        return f"{name}: the file is empty"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(head, final=len(head) >= total_size)
    except UnicodeDecodeError as exc:
        return f"{name}: not UTF-8 text (byte {exc.start}: {exc.reason})"
    text = text.lstrip("\ufeff")
    ext = name.rsplit(".", 1)[-1].lower()
    if ext == "csv":
        header = text.splitlines()[0] if text.strip() else ""
        columns = [c.strip().strip('"').lower() for c in header.split(",")]
        if _CSV_REQUIRED not in columns:
            return f"{name}: line 1: CSV header has no 'sku' column"
        return None
    if ext in ("json", "jsonl"):
        stripped = text.lstrip()
        if not stripped or stripped[0] not in "{[":
            return f"{name}: line 1: does not start a JSON document or JSON line"
        return None
    return f"{name}: unsupported bunch file extension '.{ext}' (csv, json, jsonl)"
