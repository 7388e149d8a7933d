"""`redis`: Magento's built-in full-page cache (and optionally its default cache) in Redis/Valkey.

Laid out by Cm_Cache_Backend_Redis as Magento up to 2.4.8 writes it (keys in `core.cache_tags`).

Page cache, as Magento's FlushCacheByTags -> PageCache Type (TagScope) cleans it: per tag the ids in
`zc:ti:<prefix>CAT_P_12` ∩ `zc:ti:<prefix>FPC`, then UNLINK `zc:k:<id>` (tag sets stay, as with Cm's
matchingTag mode). Default cache (when configured), as Product::afterSave -> cleanModelCache does
(matchingAnyTag): the union of the tag sets, their entries, then the tag sets themselves.
Set-based: one pipelined round trip per 1,000 tags or ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import redis

from nacento_pipeline.cache.base import CacheError, CacheReport, TransientCacheError
from nacento_pipeline.core.cache_tags import (
    FLYSYSTEM_TAG,
    FPC_SCOPE_TAG,
    IMG_INFO_TAG,
    REDIS_ALL_IDS_KEY,
    REDIS_ALL_TAGS_KEY,
    cache_id,
    image_entry_suffixes,
    matches_image,
    redis_data_key,
    redis_tag_key,
)
from nacento_pipeline.core.chunks import chunked

ROUND_TRIP = 1000  # tags or keys per pipelined round trip


def _public_url(url: str, connection: Mapping[str, object]) -> str:
    """Where a client connects, for metadata and errors, without a password.

    Built from the fields redis-py parsed out of `url` (scheme, host, port or socket path, db), never from
    the URL's text, so no password shows however it is written (userinfo with an unencoded `@`, a
    `?password=` query); `***@` says that credentials are set.
    """
    scheme = url.partition("://")[0].lower()
    scheme = scheme if scheme in ("redis", "rediss", "unix") else "redis"
    secret = "***@" if connection.get("password") or connection.get("username") else ""
    db = connection.get("db", 0)
    if "path" in connection:
        return f"{scheme}://{secret}{connection['path']}?db={db}"
    return f"{scheme}://{secret}{connection.get('host', 'localhost')}:{connection.get('port', 6379)}/{db}"


class RedisTarget:
    """One Magento cache frontend in Redis: a connection (URL with db number) and its id_prefix."""

    def __init__(self, url: str, prefix: str, timeout: float = 10.0) -> None:
        self.url = url
        self.prefix = prefix
        try:
            self.client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
            )
        except ValueError:  # its message may quote part of the URL, password included
            raise CacheError(
                "a Redis URL could not be parsed (not shown: it may hold a password); "
                "percent-encode '@', ':', '/', '?' and '#' in the password"
            ) from None
        self.public_url = _public_url(url, self.client.connection_pool.connection_kwargs)

    def __str__(self) -> str:
        return self.public_url


class RedisCache:
    """Cleans `page` (the full_page frontend) by tag; `default` (the default one) by tag and for images."""

    name = "redis"

    def __init__(self, page: RedisTarget, default: RedisTarget | None = None) -> None:
        self.page = page
        self.default = default

    def _call(self, target: RedisTarget, fn):  # noqa: ANN001, ANN202
        try:
            return fn(target.client)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise TransientCacheError(f"redis {target}: {exc}") from exc
        except redis.RedisError as exc:
            raise CacheError(f"redis {target}: {exc}") from exc

    # --- page cache: matchingTag [tag, FPC] per tag ---------------------------------------------------------
    def _clean_page(self, client: redis.Redis, tags: Sequence[str]) -> tuple[int, int]:
        scope = redis_tag_key(FPC_SCOPE_TAG, self.page.prefix)
        ids: set[str] = set()
        trips = 0
        for chunk in chunked(tags, ROUND_TRIP):
            pipe = client.pipeline(transaction=False)
            for tag in chunk:
                pipe.sinter([redis_tag_key(tag, self.page.prefix), scope])
            for members in pipe.execute():
                ids.update(members)
            trips += 1
        removed, more = self._unlink_entries(client, sorted(ids))
        return removed, trips + more

    def _unlink_entries(self, client: redis.Redis, ids: Sequence[str]) -> tuple[int, int]:
        removed = trips = 0
        for chunk in chunked(ids, ROUND_TRIP):
            pipe = client.pipeline(transaction=False)
            pipe.unlink(*[redis_data_key(i) for i in chunk])
            pipe.srem(REDIS_ALL_IDS_KEY, *chunk)  # kept only with notMatchingTags; harmless otherwise
            removed += int(pipe.execute()[0])
            trips += 1
        return removed, trips

    # --- default cache: matchingAnyTag ----------------------------------------------------------------------
    def _clean_any(self, client: redis.Redis, tags: Sequence[str]) -> tuple[int, int]:
        assert self.default is not None
        ids: set[str] = set()
        trips = 0
        for chunk in chunked(tags, ROUND_TRIP):
            keys = [redis_tag_key(t, self.default.prefix) for t in chunk]
            ids.update(cast(list[str], client.sunion(keys)))
            trips += 1
        removed, more = self._unlink_entries(client, sorted(ids))
        for chunk in chunked(tags, ROUND_TRIP):
            pipe = client.pipeline(transaction=False)
            pipe.unlink(*[redis_tag_key(t, self.default.prefix) for t in chunk])
            pipe.srem(REDIS_ALL_TAGS_KEY, *[cache_id(t, self.default.prefix) for t in chunk])
            pipe.execute()
            trips += 1
        return removed, trips + more

    def clean_tags(self, tags: Sequence[str]) -> CacheReport:
        """Unlink the pages of the tags, and the default cache's entries of them when it is configured."""
        if not tags:
            return CacheReport(self.name, "tags", targets=(str(self.page),), entries_removed=0)
        removed, trips = self._call(self.page, lambda c: self._clean_page(c, tags))
        targets = [str(self.page)]
        if self.default is not None:
            more, more_trips = self._call(self.default, lambda c: self._clean_any(c, tags))
            removed, trips = removed + more, trips + more_trips
            targets.append(str(self.default))
        return CacheReport(
            self.name, "tags", tags=len(tags), requests=trips, targets=tuple(targets), entries_removed=removed
        )

    # --- image facts: IMG_INFO and remote-storage metadata entries naming the images ------------------------
    def _clean_images(self, client: redis.Redis, values: Sequence[str]) -> tuple[int, int]:
        assert self.default is not None
        suffixes = image_entry_suffixes(values)
        removed = trips = 0
        for tag in (IMG_INFO_TAG, FLYSYSTEM_TAG):
            key = redis_tag_key(tag, self.default.prefix)
            members = [m for m in cast(set[str], client.smembers(key)) if matches_image(m, suffixes)]
            trips += 1
            if members:
                more, more_trips = self._unlink_entries(client, sorted(members))
                for chunk in chunked(sorted(members), ROUND_TRIP):
                    client.srem(key, *chunk)
                    trips += 1
                removed, trips = removed + more, trips + more_trips
        return removed, trips

    def clean_images(self, values: Sequence[str]) -> CacheReport:
        """Remove the default cache's IMG_INFO and remote-storage entries of the values (noted when unset)."""
        if self.default is None:
            return CacheReport(
                self.name,
                "images",
                tags=len(values),
                requests=0,
                notes=(
                    "NACENTO_CACHE_REDIS_DEFAULT_URL is not set: "
                    "Magento's IMG_INFO and remote-storage entries were not cleaned",
                ),
            )
        if not values:
            return CacheReport(self.name, "images", targets=(str(self.default),), entries_removed=0)
        removed, trips = self._call(self.default, lambda c: self._clean_images(c, values))
        return CacheReport(
            self.name,
            "images",
            tags=len(values),
            requests=trips,
            targets=(str(self.default),),
            entries_removed=removed,
        )
