"""The media feed's ETag memory read back: one scan of the table or IN lists, the same rows either way."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from nacento_pipeline.core.frames import ETAG_COLUMNS
from nacento_pipeline.core.media_feed import MEMORY_COLUMNS
from nacento_pipeline.magento import bulk_read, media_feed

# Keys a bucket may hold: separators of other encodings, quotes, a tab, non-ASCII, a long name.
ODD_KEYS = [
    "media/catalog/product/a/b/pipe|name.jpg",
    "media/catalog/product/a/b/quote'\"name.jpg",
    "media/catalog/product/a/b/tab\tname.jpg",
    "media/catalog/product/ü/ß/café-ñ.jpg",
    "media/catalog/product/a/b/" + "x" * 200 + ".jpg",
]


def _remembered() -> pd.DataFrame:
    keys = ODD_KEYS + [f"media/catalog/product/c/d/img{n}.jpg" for n in range(40)]
    frame = pd.DataFrame(
        {
            "value": keys,
            "key": keys,
            "exists": [n % 7 != 3 for n in range(len(keys))],
            "etag": [f'"{n:032x}"' if n % 7 != 3 else "" for n in range(len(keys))],
            "size": [n * 1000 + 1 for n in range(len(keys))],
            "content_type": ["image/jpeg; charset=x|y" if n % 2 else "image/png" for n in range(len(keys))],
        }
    )
    return frame.loc[:, list(ETAG_COLUMNS)]


def _expected(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rows = frame[frame["key"].isin(keys)].loc[:, list(MEMORY_COLUMNS)]
    return rows.sort_values("key").reset_index(drop=True)


@pytest.mark.parametrize("scan", [True, False], ids=["scan", "in_lists"])
def test_the_memory_reads_back_every_field_of_the_keys_asked_for(db, monkeypatch, scan):
    """Both ways of reading (the whole table filtered, or IN lists) give each asked key's remembered state
    exactly, odd characters included, and nothing for keys never remembered or not asked for."""
    frame = _remembered()
    media_feed.remember(db, frame, datetime(2026, 12, 4, 3, 0))
    monkeypatch.setattr(bulk_read, "SCAN_MIN_KEYS", 0 if scan else 10**9)
    monkeypatch.setattr(media_feed, "READ_CHUNK", 7)  # several IN lists
    asked = list(frame["key"].iloc[::2]) + ["media/catalog/product/never/seen.jpg"]
    got = media_feed.read_memory(db, asked)
    assert list(got.columns) == list(MEMORY_COLUMNS)
    assert got["size"].dtype == "int64" and got["exists"].dtype == bool
    pd.testing.assert_frame_equal(
        got.sort_values("key").reset_index(drop=True), _expected(frame, asked), check_dtype=False
    )
    assert set(ODD_KEYS[::2]) <= set(got["key"])


def test_the_memory_read_scans_the_table_only_for_a_large_share(db, monkeypatch):
    """A batch asking for most remembered keys is served by one statement; a few keys by IN lists."""
    frame = _remembered()
    media_feed.remember(db, frame, datetime(2026, 12, 4, 3, 0))
    monkeypatch.setattr(bulk_read, "SCAN_MIN_KEYS", 0)
    monkeypatch.setattr(media_feed, "READ_CHUNK", 5)
    statements: list[int] = []
    original = bulk_read.packed_rows

    def counted(conn, query):  # noqa: ANN001, ANN202
        in_list = [len(v) for v in query.compile().params.values() if isinstance(v, list)]
        statements.append(in_list[0] if in_list else 0)
        return original(conn, query)

    monkeypatch.setattr(bulk_read, "packed_rows", counted)
    everything = list(frame["key"])
    assert len(media_feed.read_memory(db, everything)) == len(frame)
    assert statements == [0]  # one scan
    statements.clear()
    few = everything[:10]
    assert len(media_feed.read_memory(db, few)) == 10
    assert statements == [5, 5]
    assert media_feed.read_memory(db, []).empty
