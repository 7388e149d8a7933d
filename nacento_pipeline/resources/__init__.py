"""Dagster resources: one `SettingsResource` (the configuration) read by thin resources for the object store,
the Magento database, the reindex trigger and the storefront cache; `wiring` maps settings onto adapters."""

from nacento_pipeline.resources.from_settings import resources_from_settings
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.resources.reindex import ReindexResource
from nacento_pipeline.resources.settings import SettingsResource

__all__ = [
    "MagentoDatabaseResource",
    "ObjectStoreResource",
    "ReindexResource",
    "SettingsResource",
    "resources_from_settings",
]
