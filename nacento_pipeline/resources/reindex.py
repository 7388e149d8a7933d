"""How Magento is told to reindex: the indexers we manage, their thresholds and the trigger mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from nacento_pipeline.config import DEFAULT_INDEXERS, Settings


class ReindexResource(dg.ConfigurableResource):
    """Reindex decision inputs and trigger (`changelog`, `command` or `dry-run`)."""

    indexers: list[str] = list(DEFAULT_INDEXERS)
    trigger: str = "changelog"
    command: str = "bin/magento indexer:reindex {indexers}"
    timeout_seconds: int = 3600
    default_threshold: float = 0.2
    thresholds: dict[str, float] = {}
    purge_image_cache: bool = False
    partial_command: str | None = None
    purposes: list[str] = []
    indexer_views: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> ReindexResource:
        values: dict[str, Any] = {field: _to_resource(getattr(settings, name)) for field, name in _SETTINGS_FIELDS.items()}
        return cls(**values)

    def settings(self, base: Settings | None = None) -> Settings:
        """These fields as the typed Settings the core and adapters take."""
        values = {name: _to_settings(getattr(self, field)) for field, name in _SETTINGS_FIELDS.items()}
        return (base or Settings()).with_overrides(**values).validate()


# resource field -> Settings attribute
_SETTINGS_FIELDS = {
    "indexers": "indexers",
    "trigger": "reindex_trigger",
    "command": "reindex_command",
    "partial_command": "reindex_partial_command",
    "timeout_seconds": "reindex_timeout_seconds",
    "default_threshold": "default_threshold",
    "thresholds": "thresholds",
    "purge_image_cache": "purge_image_cache",
    "purposes": "reindex_purposes",
    "indexer_views": "indexer_views",
}


def _to_resource(value: object) -> object:
    """Settings hold tuples and mappings; resource config wants lists and dicts."""
    if isinstance(value, tuple):
        return list(value)
    return dict(value) if isinstance(value, Mapping) else value


def _to_settings(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value
