"""Magento's cache tags for changed products, Varnish purge patterns, and its Redis cache's key layout.

Purge patterns are chunked as Magento chunks them; the key layout is that of Magento's Redis cache backend
(Cm_Cache_Backend_Redis, Magento up to 2.4.8).

Pure: ids in, strings out. The backends in `nacento_pipeline.cache` send them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

PRODUCT_TAG = "cat_p"  # Magento\Catalog\Model\Product::CACHE_TAG
FPC_SCOPE_TAG = "FPC"  # Magento\PageCache\Model\Cache\Type::CACHE_TAG (the full_page TagScope)
IMG_INFO_TAG = "IMG_INFO"  # Magento\Catalog\Model\Product\Image: resized-image info entries
FLYSYSTEM_TAG = "flysystem"  # Magento\RemoteStorage\Driver\Adapter\Cache\Generic::CACHE_TAG

# Magento\CacheInvalidate\Observer\InvalidateVarnishObserver: one pattern per tag, joined with '|'
VARNISH_TAG_PATTERN = "((^|,){tag}(,|$))"
VARNISH_MAX_HEADER_SIZE = 7680  # Magento\CacheInvalidate\Model\PurgeCache default maxHeaderSize
VARNISH_FLUSH_ALL_PATTERN = ".*"  # FlushAllCacheObserver


def product_tags(entity_ids: Iterable[int], parents: Mapping[int, Iterable[int]] | None = None) -> list[str]:
    """`cat_p_<id>` for every changed product and every parent of one (configurable, grouped, bundle).

    Sorted by id, each once: what Magento's product save cleans through Product::getIdentities and the
    ConfigurableProduct / Bundle ProductIdentitiesExtender plugins. Listing pages carry their products'
    `cat_p_<id>` too, so these tags also refresh category pages showing the product.
    """
    ids = {int(i) for i in entity_ids if int(i) > 0}
    for child in list(ids):
        ids.update(int(p) for p in (parents or {}).get(child, ()) if int(p) > 0)
    return [f"{PRODUCT_TAG}_{i}" for i in sorted(ids)]


def varnish_patterns(tags: Iterable[str]) -> list[str]:
    """One `((^|,)<tag>(,|$))` pattern per tag, tags lower-cased as Magento sends them."""
    return [VARNISH_TAG_PATTERN.format(tag=tag.lower()) for tag in tags]


def chunk_patterns(patterns: Sequence[str], max_header_size: int = VARNISH_MAX_HEADER_SIZE) -> Iterator[str]:
    """X-Magento-Tags-Pattern header values, as PurgeCache::chunkTags builds them.

    A new chunk starts when the chunk's bytes + the next pattern's length + the number of patterns in the
    chunk (the `|` separators) would exceed `max_header_size`.
    """
    chunk: list[str] = []
    size = 0
    for pattern in patterns:
        if chunk and size + len(pattern) + len(chunk) > max_header_size:
            yield "|".join(chunk)
            chunk, size = [], 0
        chunk.append(pattern)
        size += len(pattern)
    if chunk:
        yield "|".join(chunk)


_NOT_ID_CHAR = re.compile(r"[^a-zA-Z0-9_]")


def cache_id(raw: str, prefix: str = "") -> str:
    r"""An id or tag as Magento stores it, sanitized and prefixed.

    Upper-cased (Frontend\Adapter\Zend::_unifyId), `.` -> `__`, any other character outside [a-zA-Z0-9_] ->
    `_`, then the frontend's id_prefix (Cache\Core::_id).
    """
    return prefix + _NOT_ID_CHAR.sub("_", raw.upper().replace(".", "__"))


# Cm_Cache_Backend_Redis key layout
def redis_data_key(member: str) -> str:
    """Hash `zc:k:<id>` (fields d, t, m, i) of an entry; tag-set members already carry the id prefix."""
    return f"zc:k:{member}"


def redis_tag_key(tag: str, prefix: str = "") -> str:
    """Set `zc:ti:<prefix><TAG>` holding the ids of the entries tagged with `tag`."""
    return f"zc:ti:{cache_id(tag, prefix)}"


REDIS_ALL_TAGS_KEY = "zc:tags"  # set of every tag (without the zc:ti: part)
REDIS_ALL_IDS_KEY = "zc:ids"  # set of every id, only when the backend keeps notMatchingTags


def image_entry_suffixes(values: Iterable[str]) -> list[str]:
    """What the end of a cache id looks like for an image path.

    Magento keys `IMG_INFO<absolute path of a resized copy>` and the remote-storage metadata `<prefix><path>`
    end with the gallery value (`/a/b/file.jpg`), sanitized as `cache_id` does. Sorted, each once.
    """
    suffixes = set()
    for value in values:
        path = "/" + value.strip().lstrip("/")
        if path != "/":
            suffixes.add(cache_id(path))
    return sorted(suffixes)


def matches_image(member: str, suffixes: Sequence[str]) -> bool:
    """True when a cache id (prefix included) names one of the images: it ends with one of the suffixes.

    A suffix starts with the `_` that replaced the path's `/`, so `/a/b/ax.jpg` never matches `/a/b/x.jpg`.
    """
    return member.endswith(tuple(suffixes)) if suffixes else False
