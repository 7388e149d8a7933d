"""The undo journal's before-images, pure: the blob format, read back, and which products a revert restores.

The blob format is the one the database writes; the products a revert may restore are journaled ones.

A before-image is `{part: [row, ...]}` with each row a list of column values in the part's column order
(the adapter names the parts and their columns and builds the blob in SQL; this module never knows table
names). The blob is MySQL's `COMPRESS()` layout (the uncompressed length in 4 bytes, little-endian, then a
zlib stream) of a JSON object whose `"v"` is FORMAT; datetimes travel as text and come back as datetimes for
the columns the adapter says are datetimes.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

Image = dict[str, list[list[Any]]]
FORMAT = 2  # 1: a zlib stream of the image as Python built it (refused by revert; the journal keeps days)
FIRST_SHOWN = 20


class UnknownFormat(ValueError):
    """A journal blob of another format than FORMAT."""


def _plain(value: Any) -> Any:
    """A value JSON can carry exactly: datetimes as ISO text, numpy scalars unwrapped."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def compress(data: bytes) -> bytes:
    """MySQL's COMPRESS(): the length in 4 bytes (little-endian), then zlib (SQLite's stand-in for it)."""
    return struct.pack("<I", len(data) & 0x3FFFFFFF) + zlib.compress(data) if data else b""


def encode(image: Image) -> bytes:
    """The blob of a before-image, as the database builds it (a before-image pieced together in Python)."""
    document = {"v": FORMAT, **image}
    return compress(json.dumps(document, separators=(",", ":"), default=_plain).encode())


def decode(blob: bytes, datetime_columns: Mapping[str, Iterable[int]] | None = None) -> Image:
    """A before-image from its blob; `datetime_columns` (part -> column positions) turned back into datetimes.

    Raises UnknownFormat for a blob of another format.
    """
    try:
        document = json.loads(zlib.decompress(bytes(blob[4:])))
    except (zlib.error, ValueError) as exc:
        raise UnknownFormat(f"not a journal blob of format {FORMAT}") from exc
    if not isinstance(document, dict) or document.pop("v", None) != FORMAT:
        raise UnknownFormat(f"not a journal blob of format {FORMAT}")
    image: Image = document
    for name, positions in (datetime_columns or {}).items():
        for row in image.get(name, []):
            for i in positions:
                if row[i] is not None:
                    row[i] = datetime.fromisoformat(row[i])
    return image


def image_frames(images: Iterable[Image], columns: Mapping[str, list[str]]) -> dict[str, pd.DataFrame]:
    """The rows of many before-images, one frame per part (columns as the adapter named them)."""
    rows: dict[str, list[list[Any]]] = {name: [] for name in columns}
    for image in images:
        for name, part in image.items():
            rows[name].extend(part)
    return {
        name: pd.DataFrame(rows[name], columns=cols) if rows[name] else pd.DataFrame(columns=cols)
        for name, cols in columns.items()
    }


@dataclass(frozen=True)
class RevertChoice:
    """A revert's decision per journaled product: restore (still what the batch left, or forced) or skip."""

    restore: pd.DataFrame  # journal rows to restore
    skipped: pd.DataFrame  # journal rows whose product changed since the batch (not forced)


def choose_restores(entries: pd.DataFrame, current: Mapping[int, str], *, force: bool) -> RevertChoice:
    """Which journaled products a revert restores and which it skips, by their fingerprints now.

    `entries` (link_id, after_fingerprint, ...) against the products' fingerprints now (link_id -> digest):
    a product still exactly as the batch left it is restored; one changed since is skipped unless `force`.
    """
    now = entries["link_id"].astype("int64").map(current)
    same = now.eq(entries["after_fingerprint"])
    if force:
        return RevertChoice(entries, entries.iloc[0:0])
    return RevertChoice(entries[same], entries[~same])
