"""Purge Magento's resized-image cache for images whose content changed under the same path.

Magento's cache key (`media/catalog/product/cache/<hash>/<a>/<b>/<file>`) does not change when the file
does, so it keeps serving the old resized images until these objects are deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from nacento_pipeline.storage.adapters.base import ObjectStore

DELETE_BATCH = 1000  # S3 DeleteObjects takes at most 1000 keys


@dataclass(frozen=True)
class CachePurgeReport:
    """What the purge listed, matched and deleted."""

    cache_prefix: str
    values: int  # distinct canonical values asked for
    listed: int  # cache objects listed under the prefix
    matched: int  # cache objects belonging to one of the values
    deleted: int  # 0 on a dry run
    values_with_cache: int  # values that had at least one resized copy
    keys: tuple[str, ...]  # matched keys
    dry_run: bool = False

    def summary(self) -> str:
        """One line for logs and metadata: what was (or would be) deleted, of what."""
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"resized-image cache: {verb} {self.matched} of {self.listed} objects under {self.cache_prefix} "
            f"for {self.values_with_cache} of {self.values} changed images"
        )


def content_changed_values(delta: pd.DataFrame) -> set[str]:
    """Canonical values whose content changed under the same path (delta action `updated_value`)."""
    if not len(delta):
        return set()
    return set(delta.loc[delta["action"] == "updated_value", "value"].astype(str))


def _relative(value: str) -> str:
    return value.strip().lstrip("/")


_SIZE = re.compile(r"\d+x\d+")


def cached_path(key: str, cache_prefix: str) -> str | None:
    """The relative image path a cache key is a resized copy of, or None when the key is not under the prefix.

    Magento 2.2+: `<hash>/<path>`. Older layouts: `<store_id>/<image type>/[<W>x<H>/]<hash>/<path>`.
    """
    if not key.startswith(cache_prefix):
        return None
    segments = key[len(cache_prefix) :].split("/")
    start = 1  # after the hash
    if len(segments) > 3 and segments[0].isdigit() and len(segments[0]) < 32:
        start = 4 if _SIZE.fullmatch(segments[2]) else 3
    path = "/".join(segments[start:])
    return path or None


def cached_value(key: str, cache_prefix: str, wanted: set[str]) -> str | None:
    """The wanted relative path a cache key is a resized copy of, or None.

    It is exactly the path after the hash, so /a/b/ax.jpg or /foo/a/b/x.jpg never purge the copies of
    /a/b/x.jpg (nor the other way round).
    """
    path = cached_path(key, cache_prefix)
    return path if path in wanted else None


def purge_resized_images(
    store: ObjectStore,
    values: Iterable[str],
    cache_prefix: str = "media/catalog/product/cache/",
    dry_run: bool = False,
) -> CachePurgeReport:
    """List the cache prefix once (paginated) and delete the resized copies of `values`, 1000 keys a call."""
    prefix = cache_prefix if cache_prefix.endswith("/") or not cache_prefix else cache_prefix + "/"
    wanted = {_relative(v) for v in values if _relative(v)}
    if not wanted:
        return CachePurgeReport(prefix, 0, 0, 0, 0, 0, (), dry_run)
    listed = 0
    matched: list[str] = []
    found: set[str] = set()
    for info in store.list(prefix):
        listed += 1
        hit = cached_value(info.key, prefix, wanted)
        if hit is not None:
            matched.append(info.key)
            found.add(hit)
    deleted = 0
    if not dry_run:
        for start in range(0, len(matched), DELETE_BATCH):
            batch = matched[start : start + DELETE_BATCH]
            store.delete(batch)
            deleted += len(batch)
    return CachePurgeReport(
        prefix, len(wanted), listed, len(matched), deleted, len(found), tuple(matched), dry_run
    )
