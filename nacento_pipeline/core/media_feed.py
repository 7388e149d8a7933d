"""The media change feed's decisions, pure: which snapshot runs, which keys come from memory, what it missed.

With the feed on, the ETag snapshot knows every media key it looked up before (its ETag memory) and the keys
the bucket's events named since the last full snapshot. A key's ETag comes from memory unless its parent
prefix has an event since then or memory has never seen it; those keys are looked up in storage (their
prefixes LISTed). A full snapshot (every key looked up) runs when none ran yet, when the last one is older
than the audit interval, or when the feed has a gap; it is the feed's audit: a key whose state differs from
memory although no event named it is a change the feed missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nacento_pipeline.core.frames import ETAG_COLUMNS
from nacento_pipeline.core.membership import is_in
from nacento_pipeline.core.paths import parent_prefix

MEMORY_COLUMNS = ("key", "exists", "etag", "size", "content_type")


def full_snapshot_reason(
    last_full: datetime | None, now: datetime, full_hours: int, gaps: Iterable[str]
) -> str:
    """Why this snapshot must be full ("" when the feed may be used).

    The reasons: the first one, the audit is due, a gap.
    """
    gaps = list(gaps)
    if gaps:
        return "feed gap: " + "; ".join(gaps)
    if last_full is None:
        return "no full snapshot yet"
    if now - last_full >= timedelta(hours=full_hours):
        return f"audit due (last full snapshot {last_full:%Y-%m-%d %H:%M} UTC, every {full_hours} h)"
    return ""


@dataclass(frozen=True)
class FeedSplit:
    """The wanted keys split: `lookup` goes to storage, `remembered` comes from memory.

    `lookup` holds (value, key) rows, `remembered` ETAG_COLUMNS rows.
    """

    lookup: pd.DataFrame
    remembered: pd.DataFrame
    event_prefixes: list[str]
    never_seen: int


def split_wanted(wanted: pd.DataFrame, memory: pd.DataFrame, event_keys: Iterable[str]) -> FeedSplit:
    """The keys to look up and the rest's rows from memory, from the wanted keys, memory and event keys.

    `wanted` (value, key: distinct keys), `memory` (MEMORY_COLUMNS, some of the wanted keys), the keys events
    named since the last full snapshot: the keys to look up (in a prefix with an event, or not in memory) and
    the rest's rows from memory.
    """
    prefixes = {parent_prefix(k) for k in event_keys}
    # no event, no prefix to compute (the no-op re-sync)
    wanted_prefixes = parent_prefixes(wanted["key"]) if prefixes else pd.Series("", index=wanted.index)
    in_event_prefix = wanted_prefixes.isin(prefixes)
    known = pd.Series(is_in(wanted["key"], memory["key"]), index=wanted.index)
    lookup = ~known | in_event_prefix
    remembered = wanted.loc[~lookup, ["value", "key"]].merge(memory, on="key", how="left")
    return FeedSplit(
        lookup=wanted.loc[lookup, ["value", "key"]].reset_index(drop=True),
        remembered=remembered.loc[:, list(ETAG_COLUMNS)],
        event_prefixes=sorted(set(wanted_prefixes[in_event_prefix])),
        never_seen=int((~known).sum()),
    )


def parent_prefixes(keys: pd.Series) -> pd.Series:
    """paths.parent_prefix of each key, computed by pyarrow (no Python call per key); same index."""
    found = pc.replace_substring_regex(pa.array(keys.astype(str), type=pa.large_string()), r"[^/]*\z", "")
    return pd.Series(found.to_numpy(zero_copy_only=False), index=keys.index, dtype=object)


def combine(wanted: pd.DataFrame, looked_up: pd.DataFrame, remembered: pd.DataFrame) -> pd.DataFrame:
    """One ETAG_COLUMNS frame in the wanted keys' order, from the looked-up rows and the remembered ones."""
    parts = [looked_up.astype(remembered.dtypes.to_dict()), remembered] if len(remembered) else [looked_up]
    both = pd.concat(parts, ignore_index=True)
    order = pd.Index(both["key"]).get_indexer(wanted["key"])
    out = both.iloc[order].reset_index(drop=True)
    out = out.astype({"exists": bool, "size": "int64"})
    for name in ("value", "key", "etag", "content_type"):
        out[name] = out[name].astype("str")
    return out.loc[:, list(ETAG_COLUMNS)]


def missed_changes(full: pd.DataFrame, memory: pd.DataFrame, event_keys: Iterable[str]) -> pd.DataFrame:
    """Keys whose state in a full snapshot differs from memory although no event named them.

    Rows (key, was_etag, now_etag); no event since the last full snapshot named these keys: changes the feed
    did not deliver. Keys memory never saw are left out
    (nothing to compare with).
    """
    named_keys = set(event_keys)
    both = full.loc[:, ["key", "exists", "etag"]].merge(
        memory.loc[:, ["key", "exists", "etag"]], on="key", suffixes=("", "_was")
    )
    differs = (both["exists"].astype(bool) != both["exists_was"].astype(bool)) | (
        both["etag"].astype(str) != both["etag_was"].astype(str)
    )
    named = both["key"].isin(named_keys)
    missed = both.loc[differs & ~named]
    return pd.DataFrame(
        {
            "key": missed["key"].astype(str),
            "was_etag": missed["etag_was"].astype(str),
            "now_etag": missed["etag"].astype(str),
        }
    ).reset_index(drop=True)
