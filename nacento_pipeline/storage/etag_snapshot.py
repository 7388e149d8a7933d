"""ETag snapshot of the objects a batch references: LIST dense prefixes, HEAD sparse keys, concurrently.

Magento's layout `media/catalog/product/<a>/<b>/<file>` puts many images of a batch under few prefixes, so
one LIST page (1000 ETags) usually replaces up to 1000 HEAD requests. A group whose listing wades through
unrelated objects stops once its pages would cost more than HEADing the keys still missing. A prefix holding
many wanted keys is split into key ranges (each listed from just before its first key to its last), so one
big folder is listed by several threads at once instead of page after page.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.frames import ETAG_COLUMNS
from nacento_pipeline.core.paths import parent_prefix
from nacento_pipeline.storage.adapters.base import ObjectInfo, ObjectStore

DEFAULT_PAGE_SIZE = 1000
MAX_HEADS_PER_TASK = 64
MIN_PAGES_PER_RANGE = 4  # a range boundary may cost one extra page: keep that overhead <= 25%


class SnapshotInputError(ValueError):
    """The frame handed to `snapshot_etags` lacks a column or carries an unusable key."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class EtagSnapshot:
    """ETags of the wanted keys: `frame` has exactly ETAG_COLUMNS, one row per distinct key."""

    frame: pd.DataFrame
    requests: dict[str, int] = field(default_factory=dict)  # kind -> requests made by this snapshot
    strategy: dict[str, int] = field(default_factory=dict)  # how the keys were looked up


@dataclass
class _Found:
    """Objects found, as columns: the wanted key (the caller's own string), its ETag, size and Content-Type.

    One ETag string and a few references per object instead of an ObjectInfo (with its dict and datetime):
    a snapshot of a million keys is held through the pool, so the per-key cost is what counts.
    """

    keys: list[str] = field(default_factory=list)
    etags: list[str] = field(default_factory=list)
    sizes: array = field(default_factory=lambda: array("q"))
    content_types: list[str] = field(default_factory=list)

    def add(self, key: str, info: ObjectInfo) -> None:
        self.keys.append(key)
        self.etags.append(info.etag)
        self.sizes.append(info.size)
        self.content_types.append(sys.intern(info.content_type))  # few distinct values: one string each

    def extend(self, other: _Found) -> None:
        self.keys += other.keys
        self.etags += other.etags
        self.sizes += other.sizes
        self.content_types += other.content_types

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class _ListOutcome:
    found: _Found
    to_head: list[str]  # wanted keys the listing gave up on (budget)
    pages: int


def key_before(key: str) -> str:
    """A string sorting just before `key`, for ListObjectsV2 StartAfter (lists `key` itself first)."""
    if not key:
        return ""
    last = ord(key[-1])
    # One code point lower keeps the listing tight; code point order equals UTF-8 byte order (S3's).
    if last > 0x20 and not 0xD800 <= last - 1 <= 0xDFFF:
        return key[:-1] + chr(last - 1)
    return key[:-1]


def _list_group(store: ObjectStore, prefix: str, wanted: Sequence[str], page_size: int) -> _ListOutcome:
    """LIST `prefix` from just before the smallest wanted key to the largest, within the HEAD budget."""
    wanted_keys = {key: key for key in wanted}  # the listed key -> the caller's string (no second copy kept)
    last_wanted = wanted[-1]
    found = _Found()
    listed = 0
    pages = 1  # the first LIST request is made even when nothing comes back
    listing = store.list(prefix, start_after=key_before(wanted[0]))
    try:
        for info in listing:
            if listed and listed % page_size == 0:
                pages += 1
            listed += 1
            key = wanted_keys.get(info.key)
            if key is not None:
                found.add(key, info)
            if info.key >= last_wanted:
                break
            if listed % page_size == 0:
                # Page boundary: one more page must not cost more than HEADing what is still missing.
                remaining = len(wanted_keys) - len(found)
                if pages >= remaining:
                    seen = set(found.keys)
                    rest = [key for key in wanted if key not in seen and key > info.key]
                    return _ListOutcome(found, rest, pages)
    finally:
        close = getattr(listing, "close", None)
        if close is not None:
            close()
    return _ListOutcome(found, [], pages)


def _head_keys(store: ObjectStore, keys: Sequence[str]) -> _Found:
    found = _Found()
    for key in keys:
        info = store.head(key)
        if info is not None:
            found.add(key, info)
    return found


def _distinct_keys(values_and_keys: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in ("value", "key") if name not in values_and_keys.columns]
    if missing:
        raise SnapshotInputError(missing[0], "column missing from the frame of wanted objects")
    wanted = values_and_keys.loc[:, ["value", "key"]].astype(object)
    if wanted["key"].isna().any():
        raise SnapshotInputError("key", "object key is missing (null)")
    wanted["key"] = wanted["key"].astype(str).astype(object)
    bad = wanted["key"].eq("") | wanted["key"].str.startswith("/")
    if bad.any():
        raise SnapshotInputError("key", f"empty or absolute object key {wanted['key'][bad].iloc[0]!r}")
    return wanted.drop_duplicates(subset="key", keep="first").reset_index(drop=True)


@dataclass
class _LookupPlan:
    """Which keys are LISTed (as key ranges of a prefix) and which HEADed, with the strategy counters."""

    list_ranges: list[tuple[str, list[str]]]
    head_first: list[str]
    strategy: dict[str, int]


def _plan_lookups(keys: Sequence[str], workers: int, page_size: int, list_min_keys: int) -> _LookupPlan:
    """Group the keys by parent prefix: dense groups are LISTed in key ranges, the sparse rest HEADed.

    Several threads share a big folder's ranges.
    """
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(parent_prefix(key), []).append(key)
    list_groups = {p: sorted(ks) for p, ks in groups.items() if len(ks) >= max(1, list_min_keys)}
    head_first = sorted(k for p, ks in groups.items() if p not in list_groups for k in ks)
    listed_keys = sum(len(ks) for ks in list_groups.values())
    range_keys = max(MIN_PAGES_PER_RANGE * page_size, math.ceil(listed_keys / workers))
    list_ranges = [(prefix, part) for prefix, ks in list_groups.items() for part in chunked(ks, range_keys)]
    strategy = {
        "wanted_keys": len(keys),
        "prefixes": len(groups),
        "listed_prefixes": len(list_groups),
        "list_ranges": len(list_ranges),
        "list_pages": 0,
        "headed_keys": 0,
        "budget_fallbacks": 0,
        "missing_keys": 0,
    }
    return _LookupPlan(list_ranges, head_first, strategy)


def _run_lookups(store: ObjectStore, plan: _LookupPlan, workers: int, page_size: int) -> _Found:
    """LIST the ranges and HEAD the rest around them in one pool.

    The ranges go longest first: they are the long tasks. A listing that gives up on its budget hands its
    remaining keys to HEADs.
    """
    found = _Found()
    strategy = plan.strategy
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="etag-snapshot") as pool:
        pending: set[Future] = set()

        def submit_heads(keys: Sequence[str]) -> None:
            strategy["headed_keys"] += len(keys)
            per_task = max(1, min(MAX_HEADS_PER_TASK, math.ceil(len(keys) / (workers * 4))))
            pending.update(pool.submit(_head_keys, store, chunk) for chunk in chunked(keys, per_task))

        for prefix, keys in sorted(plan.list_ranges, key=lambda item: -len(item[1])):
            pending.add(pool.submit(_list_group, store, prefix, keys, page_size))
        submit_heads(plan.head_first)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    if isinstance(result, _ListOutcome):
                        found.extend(result.found)
                        strategy["list_pages"] += result.pages
                        if result.to_head:
                            strategy["budget_fallbacks"] += 1
                            submit_heads(result.to_head)
                    else:
                        found.extend(result)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return found


def _snapshot_frame(wanted: pd.DataFrame, found: _Found) -> pd.DataFrame:
    """One ETAG_COLUMNS row per wanted key; a key not found: exists False, etag "", size 0."""
    rows = pd.Index(wanted["key"]).get_indexer(found.keys)  # wanted keys are distinct; found ones among them
    n = len(wanted)
    exists = np.zeros(n, dtype=bool)
    etags = np.full(n, "", dtype=object)
    sizes = np.zeros(n, dtype="int64")
    content_types = np.full(n, "", dtype=object)
    exists[rows] = True
    etags[rows] = found.etags
    sizes[rows] = np.frombuffer(found.sizes, dtype="int64") if len(found) else 0
    content_types[rows] = found.content_types
    # Text as pandas' string dtype (Arrow buffers), not Python objects: ~60% smaller, and the frame is held by
    # three steps (this one, the plan's request, the write's plan).
    return pd.DataFrame(
        {
            "value": wanted["value"].astype("str"),
            "key": wanted["key"].astype("str"),
            "exists": exists,
            "etag": pd.Series(etags, dtype="str"),
            "size": sizes,
            "content_type": pd.Series(content_types, dtype="str"),
        },
        columns=list(ETAG_COLUMNS),
    )


def snapshot_etags(
    store: ObjectStore,
    values_and_keys: pd.DataFrame,
    *,
    head_concurrency: int = 16,
    list_min_keys: int = 2,
) -> EtagSnapshot:
    """ETag, size and existence of every distinct `key` in `values_and_keys` (columns `value`, `key`).

    Keys are grouped by parent prefix; groups of at least `list_min_keys` keys are LISTed, the others
    HEADed, all in a thread pool of `head_concurrency`. Missing objects: exists False, etag "", size 0.
    `requests` is the store's counter difference, so it includes other traffic on the same store meanwhile.
    """
    wanted = _distinct_keys(values_and_keys)
    page_size = int(getattr(store, "list_page_size", DEFAULT_PAGE_SIZE))
    workers = max(1, head_concurrency)
    before = store.requests.snapshot()
    plan = _plan_lookups(list(wanted["key"]), workers, page_size, list_min_keys)
    frame = _snapshot_frame(wanted, _run_lookups(store, plan, workers, page_size))
    plan.strategy["missing_keys"] = int((~frame["exists"]).sum())
    return EtagSnapshot(frame=frame, requests=store.requests.since(before), strategy=plan.strategy)


def storage_lookup(store: ObjectStore, head_concurrency: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A lookup of (value, key) rows in `store` giving (value, key, exists, etag, ...) rows, by HEADs only.

    A sample spread over many folders costs one cheap request per key, where a LIST per folder would page
    through the folder's other objects (the post-write check's storage sample).
    """

    def lookup(sampled: pd.DataFrame) -> pd.DataFrame:
        return snapshot_etags(
            store, sampled, head_concurrency=head_concurrency, list_min_keys=len(sampled) + 1
        ).frame

    return lookup
