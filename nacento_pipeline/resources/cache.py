"""Where Magento's storefront caches live and how to clean them (NACENTO_CACHE_* settings)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from nacento_pipeline.cache import CacheBackend, make_backend
from nacento_pipeline.config import Settings


class CacheResource(dg.ConfigurableResource):
    """The cache backend (`none`, `varnish`, `redis`, `command`) and its settings."""

    backend: str = "none"
    hosts: list[str] = []
    redis_url: str = "redis://127.0.0.1:6379/1"
    redis_prefix: str = ""
    redis_default_url: str | None = None
    redis_default_prefix: str = ""
    command: str = "bin/magento cache:clean full_page"
    images_command: str | None = None
    retries: int = 3
    timeout_seconds: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> CacheResource:
        """Redis URLs set in the environment stay EnvVar, so Dagster never shows a password in them."""
        values: dict[str, Any] = {field: list(v) if isinstance(v := getattr(settings, name), tuple) else v
                                  for field, name in _SETTINGS_FIELDS.items()}
        if settings.cache_redis_urls_from_env:
            values["redis_url"] = dg.EnvVar("NACENTO_CACHE_REDIS_URL") if values["redis_url"] != \
                Settings().cache_redis_url else values["redis_url"]
            if values["redis_default_url"]:
                values["redis_default_url"] = dg.EnvVar("NACENTO_CACHE_REDIS_DEFAULT_URL")
        return cls(**values)

    def settings(self, base: Settings | None = None) -> Settings:
        values = {name: tuple(v) if isinstance(v := getattr(self, field), list) else v
                  for field, name in _SETTINGS_FIELDS.items()}
        return (base or Settings()).with_overrides(**values).validate()

    def get_backend(self) -> CacheBackend:
        return make_backend(self.settings())


_SETTINGS_FIELDS = {
    "backend": "cache_backend",
    "hosts": "cache_hosts",
    "redis_url": "cache_redis_url",
    "redis_prefix": "cache_redis_prefix",
    "redis_default_url": "cache_redis_default_url",
    "redis_default_prefix": "cache_redis_default_prefix",
    "command": "cache_command",
    "images_command": "cache_images_command",
    "retries": "cache_retries",
    "timeout_seconds": "cache_timeout_seconds",
}
