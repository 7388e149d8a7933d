"""Where Magento's storefront caches live and how to clean them.

NACENTO_CACHE_* and NACENTO_PURGE_IMAGE_CACHE: the page cache's backend, and whether the resized copies of
changed images are purged too (the reindex step deletes them, the cache step cleans their entries).
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from nacento_pipeline.cache import CacheBackend
from nacento_pipeline.resources.wiring import CacheOptions, make_backend, resolved


class CacheResource(dg.ConfigurableResource):
    """The cache backend (`none`, `varnish`, `redis`, `command`) and what a write cleans after it.

    The Redis URLs are secrets: `EnvVar`s when they came from the environment, so the UI never shows them.
    """

    backend: str = Field(description="none, varnish, redis or command (NACENTO_CACHE_BACKEND).")
    hosts: list[str] = Field(description="varnish: host[:port] that receive Magento's PURGE.")
    redis_url: str = Field(description="redis: the full_page cache's server and database (a secret).")
    redis_prefix: str = Field(description="redis: env.php page_cache id_prefix.")
    redis_default_url: str | None = Field(default=None, description="redis: the default cache (a secret).")
    redis_default_prefix: str = Field(description="redis: env.php default cache id_prefix.")
    command: str = Field(description="command backend: the template cleaning tags.")
    images_command: str | None = Field(default=None, description="command backend: template for images.")
    command_env: list[str] = Field(description="Variables the commands get besides PATH, HOME and their own.")
    retries: int = Field(description="Attempts per cache request.")
    timeout_seconds: int = Field(description="Timeout of one cache request (a command gets 60 times it).")
    purge_image_cache: bool = Field(
        description="Delete resized copies of images whose content changed and clean their cache entries."
    )

    def get_backend(self) -> CacheBackend:
        """The configured backend, built from these fields."""
        options = CacheOptions(
            hosts=self.hosts,
            redis_url=resolved(self.redis_url),
            redis_prefix=self.redis_prefix,
            redis_default_url=resolved(self.redis_default_url),
            redis_default_prefix=self.redis_default_prefix,
            command=self.command,
            images_command=self.images_command,
            command_env=self.command_env,
            timeout_seconds=self.timeout_seconds,
        )
        return make_backend(self.backend, options)
