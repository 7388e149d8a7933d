"""Build the resources mapping from one Settings: every resource reads the same `SettingsResource`."""

from __future__ import annotations

from typing import Any

from nacento_pipeline.config import Settings
from nacento_pipeline.resources.cache import CacheResource
from nacento_pipeline.resources.io_manager import PathlessFilesystemIOManager
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.resources.reindex import ReindexResource
from nacento_pipeline.resources.settings import SettingsResource


def resources_from_settings(settings: Settings) -> dict[str, Any]:
    nacento = SettingsResource.from_settings(settings)
    return {
        "nacento": nacento,
        "object_store": ObjectStoreResource(nacento=nacento),
        "magento": MagentoDatabaseResource(nacento=nacento),
        "reindex": ReindexResource(nacento=nacento),
        "cache": CacheResource(nacento=nacento),
        "io_manager": PathlessFilesystemIOManager(),
    }
