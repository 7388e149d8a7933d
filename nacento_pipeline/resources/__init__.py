"""Dagster resources, each with typed fields of its own.

The object store, the drop zone, the Magento database, the reindex trigger and the storefront cache;
`build` maps a Settings onto them, `wiring` their fields onto adapters.
"""

from nacento_pipeline.resources.build import build_resources
from nacento_pipeline.resources.cache import CacheResource
from nacento_pipeline.resources.drop_zone import DropZoneResource
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.resources.reindex import ReindexResource

__all__ = [
    "CacheResource",
    "DropZoneResource",
    "MagentoDatabaseResource",
    "ObjectStoreResource",
    "ReindexResource",
    "build_resources",
]
