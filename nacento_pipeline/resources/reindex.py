"""How Magento is told to reindex: the indexers we manage, their thresholds and the trigger mode."""

from __future__ import annotations

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

    def settings(self, base: Settings | None = None) -> Settings:
        """These fields as the typed Settings the core and adapters take."""
        return (base or Settings()).with_overrides(
            indexers=tuple(self.indexers),
            reindex_trigger=self.trigger,
            reindex_command=self.command,
            reindex_timeout_seconds=self.timeout_seconds,
            default_threshold=self.default_threshold,
            thresholds=dict(self.thresholds),
            purge_image_cache=self.purge_image_cache,
            reindex_partial_command=self.partial_command,
            reindex_purposes=tuple(self.purposes),
            indexer_views=dict(self.indexer_views),
        ).validate()
