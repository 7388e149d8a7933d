"""Where Magento's storefront caches live and how to clean them (NACENTO_CACHE_* settings)."""

from __future__ import annotations

from nacento_pipeline.cache import CacheBackend
from nacento_pipeline.resources.settings import ReadsSettings
from nacento_pipeline.resources.wiring import make_backend


class CacheResource(ReadsSettings):
    """The cache backend (`none`, `varnish`, `redis`, `command`) NACENTO_CACHE_BACKEND names."""

    def get_backend(self) -> CacheBackend:
        return make_backend(self.settings)
