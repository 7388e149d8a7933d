"""The undo journal's before-images, pure: rows of several tables grouped per product, one compressed JSON blob
each, and back; and which journaled products a revert may restore.

A before-image is `{part: [row, ...]}` with each row a list of column values in the part's column order
(the adapter names the parts and their columns; this module never knows table names). Datetimes travel as
ISO text and come back as datetimes for the columns the adapter says are datetimes.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

Image = dict[str, list[list[Any]]]
EMPTY_IMAGE: Image = {}
FIRST_SHOWN = 20


def _plain(value: Any) -> Any:
    """A value JSON can carry exactly: datetimes as ISO text, numpy scalars unwrapped."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def group_images(
    parts: Mapping[str, Iterable[Sequence[Any]]], datetime_columns: Mapping[str, Iterable[int]]
) -> dict[int, Image]:
    """Per product, its rows of every part: `parts` holds per part the rows as read, each row's first value the
    product's link id (left out of the image); `datetime_columns` (part -> positions, the link not counted)
    are the columns turned into ISO text. One pass over the rows; a product has only the parts it has rows in."""
    images: dict[int, Image] = {}
    for name, rows in parts.items():
        timed = list(datetime_columns.get(name, ()))
        for row in rows:
            values = list(row[1:])
            for i in timed:
                if values[i] is not None:
                    values[i] = _plain(values[i])
            images.setdefault(int(row[0]), {}).setdefault(name, []).append(values)
    return images


def encode(image: Image) -> bytes:
    """The compressed blob of a before-image."""
    return zlib.compress(json.dumps(image, separators=(",", ":"), default=_plain).encode(), 1)


def decode(blob: bytes, datetime_columns: Mapping[str, Iterable[int]] | None = None) -> Image:
    """A before-image from its blob; `datetime_columns` (part -> column positions) turned back into datetimes."""
    image: Image = json.loads(zlib.decompress(blob))
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
    """`entries` (link_id, after_fingerprint, ...) against the products' fingerprints now (link_id -> digest):
    a product still exactly as the batch left it is restored; one changed since is skipped unless `force`."""
    now = entries["link_id"].astype("int64").map(current)
    same = now.eq(entries["after_fingerprint"])
    if force:
        return RevertChoice(entries, entries.iloc[0:0])
    return RevertChoice(entries[same], entries[~same])
