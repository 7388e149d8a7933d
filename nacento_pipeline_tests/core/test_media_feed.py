"""core.media_feed: the keys the feed snapshot looks up, what a full LIST says it missed, when it is due."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from nacento_pipeline.core.frames import ETAG_COLUMNS
from nacento_pipeline.core.media_feed import (
    combine,
    full_snapshot_reason,
    missed_changes,
    parent_prefixes,
    split_wanted,
)
from nacento_pipeline.core.paths import parent_prefix

M = "media/catalog/product/"


def _wanted(*keys: str) -> pd.DataFrame:
    return pd.DataFrame({"value": ["/" + k[len(M) :] for k in keys], "key": list(keys)})


def _memory(**etags: str) -> pd.DataFrame:
    keys = [f"{M}{k.replace('_', '/')}.jpg" for k in etags]
    return pd.DataFrame(
        {
            "key": keys,
            "exists": [bool(e) for e in etags.values()],
            "etag": list(etags.values()),
            "size": [3] * len(keys),
            "content_type": [""] * len(keys),
        }
    )


def test_only_keys_of_prefixes_with_events_and_keys_never_seen_are_looked_up():
    wanted = _wanted(f"{M}a/a/1.jpg", f"{M}a/a/2.jpg", f"{M}b/b/1.jpg", f"{M}c/c/new.jpg")
    memory = _memory(a_a_1="e1", a_a_2="e2", b_b_1="e3")
    split = split_wanted(wanted, memory, [f"{M}a/a/2.jpg", f"{M}z/z/other.jpg"])
    assert list(split.lookup["key"]) == [f"{M}a/a/1.jpg", f"{M}a/a/2.jpg", f"{M}c/c/new.jpg"]
    assert split.event_prefixes == [f"{M}a/a/"] and split.never_seen == 1
    assert list(split.remembered.columns) == list(ETAG_COLUMNS)
    assert split.remembered[["key", "etag"]].values.tolist() == [[f"{M}b/b/1.jpg", "e3"]]


def test_parent_prefixes_are_each_keys_parent_prefix():
    keys = pd.Series(
        [f"{M}a/b/1.jpg", "top.jpg", "a/", "a/x\ny", "ü/ß/é.jpg", "a//b", ""], index=[3, 1, 4, 1, 5, 9, 2]
    )
    got = parent_prefixes(keys)
    assert got.tolist() == [parent_prefix(k) for k in keys] and list(got.index) == list(keys.index)


def test_combine_keeps_the_wanted_order():
    wanted = _wanted(f"{M}b/b/1.jpg", f"{M}a/a/1.jpg")
    split = split_wanted(wanted, _memory(b_b_1="e3"), [])
    looked = pd.DataFrame(
        {
            "value": ["/a/a/1.jpg"],
            "key": [f"{M}a/a/1.jpg"],
            "exists": [True],
            "etag": ["n"],
            "size": [5],
            "content_type": ["image/jpeg"],
        }
    )
    out = combine(wanted, looked, split.remembered)
    assert out[["key", "etag", "size"]].values.tolist() == [
        [f"{M}b/b/1.jpg", "e3", 3],
        [f"{M}a/a/1.jpg", "n", 5],
    ]


def test_a_change_no_event_named_is_missed():
    memory = _memory(a_a_1="e1", a_a_2="e2", b_b_1="e3")
    full = memory.assign(etag=["e1", "x2", "x3"], value="v")
    missed = missed_changes(full, memory, [f"{M}b/b/1.jpg"])
    assert missed.values.tolist() == [[f"{M}a/a/2.jpg", "e2", "x2"]]
    gone = memory.assign(exists=[True, True, False], etag=["e1", "e2", ""])
    assert missed_changes(gone, memory, []).values.tolist() == [[f"{M}b/b/1.jpg", "e3", ""]]


def test_full_snapshot_reasons():
    now = datetime(2026, 12, 4, 12)
    assert full_snapshot_reason(None, now, 24, []) == "no full snapshot yet"
    assert full_snapshot_reason(now - timedelta(hours=3), now, 24, []) == ""
    assert full_snapshot_reason(now - timedelta(hours=25), now, 24, []).startswith("audit due")
    assert full_snapshot_reason(now, now, 24, ["queue unreachable: x"]) == "feed gap: queue unreachable: x"
