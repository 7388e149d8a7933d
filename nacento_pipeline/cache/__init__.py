"""Storefront cache backends (none, varnish, redis, command): one registry entry each, built from Settings."""

from __future__ import annotations

from collections.abc import Callable

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
from nacento_pipeline.config import Settings


def _varnish(s: Settings) -> CacheBackend:
    return VarnishCache([VarnishHost.parse(h) for h in s.cache_hosts], timeout=float(s.cache_timeout_seconds))


def _redis(s: Settings) -> CacheBackend:
    timeout = float(s.cache_timeout_seconds)
    default = (RedisTarget(s.cache_redis_default_url, s.cache_redis_default_prefix, timeout)
               if s.cache_redis_default_url else None)
    return RedisCache(RedisTarget(s.cache_redis_url, s.cache_redis_prefix, timeout), default)


def _command(s: Settings) -> CacheBackend:
    return CommandCache(s.cache_command, s.cache_images_command, timeout=float(s.cache_timeout_seconds) * 60)


BACKENDS: dict[str, Callable[[Settings], CacheBackend]] = {
    "none": lambda s: NoCache(),
    "varnish": _varnish,
    "redis": _redis,
    "command": _command,
}


def make_backend(settings: Settings) -> CacheBackend:
    """The backend NACENTO_CACHE_BACKEND names, configured from the other NACENTO_CACHE_* settings."""
    try:
        factory = BACKENDS[settings.cache_backend]
    except KeyError:
        raise CacheError(f"NACENTO_CACHE_BACKEND={settings.cache_backend!r}: expected one of {sorted(BACKENDS)}") from None
    return factory(settings)


__all__ = ["BACKENDS", "CacheBackend", "CacheError", "CacheReport", "TransientCacheError", "make_backend",
           "with_retries"]
