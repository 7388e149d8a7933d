"""Copy an export's image files, server side, to where Magento serves them, each once.

Every source object (an exported file in the drop's export folder, or a file in Akeneo's catalog storage)
goes to the media prefix under the gallery value its ETag and name give (core.akeneo.media.placed_value).
The targets are looked up first with the ETag snapshot's LIST/HEAD plan; a target that exists with the
source's ETag (or at all, for a multipart ETag, which a copy does not keep) is not copied again. Copies are
CopyObject requests: no byte of an image passes through the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from nacento_pipeline.core.akeneo.media import placed_value
from nacento_pipeline.core.paths import object_key
from nacento_pipeline.storage.adapters.base import ObjectInfo, ObjectStore
from nacento_pipeline.storage.etag_snapshot import snapshot_etags


@dataclass
class Placement:
    """Where each source went: `values` maps the source's name (`name_of`'s) to its gallery value."""

    values: dict[str, str] = field(default_factory=dict)
    copied: int = 0
    kept: int = 0  # targets already holding the content
    requests: dict[str, int] = field(default_factory=dict)


def place_media(
    store: ObjectStore,
    sources: Sequence[ObjectInfo],
    *,
    media_prefix: str,
    name_of: Callable[[str], str] = lambda key: key,
    concurrency: int = 16,
) -> Placement:
    """Copy each source object to its placed gallery value under `media_prefix` unless it is there already."""
    before = store.requests.snapshot()
    placement = Placement()
    targets: dict[str, tuple[str, str]] = {}  # target key -> (source key, source etag)
    for info in sources:
        value = placed_value(info.etag, info.key)
        placement.values[name_of(info.key)] = value
        targets.setdefault(object_key(value, media_prefix), (info.key, info.etag))
    if targets:
        wanted = pd.DataFrame({"value": list(targets), "key": list(targets)})
        found = snapshot_etags(store, wanted, head_concurrency=concurrency).frame.set_index("key")
        to_copy = []
        for key, (source, etag) in targets.items():
            exists = bool(found.at[key, "exists"]) if key in found.index else False
            same = exists and (found.at[key, "etag"] == etag or "-" in etag)
            if same:
                placement.kept += 1
            else:
                to_copy.append((source, key))
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(to_copy) or 1))) as pool:
            list(pool.map(lambda pair: store.copy(*pair), to_copy))
        placement.copied = len(to_copy)
    placement.requests = store.requests.since(before)
    return placement
