"""Storefront cache backends (none, varnish, redis, command); `resources.wiring` builds the configured one."""

from __future__ import annotations

from nacento_pipeline.cache.base import (
    CacheBackend,
    CacheError,
    CacheReport,
    TransientCacheError,
    with_retries,
)
from nacento_pipeline.cache.command import CommandCache
from nacento_pipeline.cache.none import NoCache
from nacento_pipeline.cache.redis_cache import RedisCache, RedisTarget
from nacento_pipeline.cache.varnish import VarnishCache, VarnishHost

__all__ = [
    "CacheBackend",
    "CacheError",
    "CacheReport",
    "CommandCache",
    "NoCache",
    "RedisCache",
    "RedisTarget",
    "TransientCacheError",
    "VarnishCache",
    "VarnishHost",
    "with_retries",
]
