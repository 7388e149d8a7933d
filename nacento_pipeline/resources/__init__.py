"""Dagster resources: the object store, the Magento database and the reindex executor, built from Settings."""

from nacento_pipeline.resources.from_settings import resources_from_settings
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.resources.reindex import ReindexResource

__all__ = ["MagentoDatabaseResource", "ObjectStoreResource", "ReindexResource", "resources_from_settings"]
