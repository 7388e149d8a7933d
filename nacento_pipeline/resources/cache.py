"""Where Magento's storefront caches live and how to clean them (NACENTO_CACHE_* settings)."""

from __future__ import annotations

import dagster as dg

from nacento_pipeline.cache import CacheBackend
from nacento_pipeline.config import Settings
from nacento_pipeline.resources.settings import SettingsResource
from nacento_pipeline.resources.wiring import make_backend


class CacheResource(dg.ConfigurableResource):
    """The cache backend (`none`, `varnish`, `redis`, `command`) NACENTO_CACHE_BACKEND names."""

    nacento: SettingsResource

    @property
    def settings(self) -> Settings:
        return self.nacento.get()

    def get_backend(self) -> CacheBackend:
        return make_backend(self.settings)
