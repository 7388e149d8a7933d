"""Listing every image under the media prefix (the daily audit's view of storage), one LIST page at a time."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.storage.adapters.base import ObjectStore

_AFTER_EVERYTHING = "\U0010ffff"  # sorts after any key under a prefix: StartAfter=<prefix> + this skips it


def list_media(store: ObjectStore, media_prefix: str, cache_prefix: str) -> pd.DataFrame:
    """key, etag of every object under the media prefix except Magento's resized cache.

    The cache is skipped with one StartAfter instead of paging through it.
    """
    keys, etags = [], []
    start_after = None
    while True:
        jumped = False
        for info in store.list(media_prefix, start_after=start_after):
            if cache_prefix and info.key.startswith(cache_prefix):
                start_after, jumped = cache_prefix + _AFTER_EVERYTHING, True
                break
            keys.append(info.key)
            etags.append(info.etag)
        if not jumped:
            return pd.DataFrame({"key": keys, "etag": etags})
