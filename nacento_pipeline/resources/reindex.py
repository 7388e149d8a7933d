"""How Magento is told to reindex: the managed indexers' decisions and the configured trigger.

NACENTO_REINDEX_*, NACENTO_INDEXERS, NACENTO_INDEXER_VIEWS and NACENTO_COMMAND_ENV are its fields.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field

from nacento_pipeline.core.reindex.decision import ReindexDecision
from nacento_pipeline.magento.reindex_trigger import ReindexTrigger
from nacento_pipeline.resources.wiring import make_trigger, pending_indexers_for, reindex_decisions


class ReindexResource(dg.ConfigurableResource):
    """Reindex decisions and their trigger (`changelog`, `command` or `dry-run`) for one Magento database.

    The methods take the engine and table prefix of the database they decide for (the Magento resource's,
    stated once there).
    """

    trigger_kind: str = Field(description="changelog, command or dry-run (NACENTO_REINDEX_TRIGGER).")
    command: str = Field(description="Command template of the command trigger.")
    partial_command: str | None = Field(default=None, description="Template for partial decisions.")
    timeout_seconds: int = Field(description="Timeout of the command.")
    command_env: list[str] = Field(description="Variables the command gets besides PATH, HOME and its own.")
    indexers: list[str] = Field(description="Indexers the reindex decision manages.")
    indexer_views: dict[str, str] = Field(description="mview view per indexer where they differ.")
    purposes: list[str] = Field(description="The purpose chain, first match wins; empty: the default chain.")
    default_threshold: float = Field(description="Full-reindex threshold (< 1: share of the catalog).")
    thresholds: dict[str, float] = Field(description="Full-reindex threshold per indexer.")

    def decide(
        self, engine: sa.Engine, prefix: str, changed_entity_ids: Iterable[int]
    ) -> list[ReindexDecision]:
        """The managed indexers' decisions for these changed products."""
        return reindex_decisions(
            engine,
            prefix,
            changed_entity_ids,
            indexers=self.indexers,
            indexer_views=self.indexer_views,
            purposes=self.purposes,
            default_threshold=self.default_threshold,
            thresholds=self.thresholds,
        )

    def trigger(self, engine: sa.Engine | None, prefix: str) -> ReindexTrigger:
        """The configured trigger on this database."""
        return make_trigger(
            self.trigger_kind,
            engine,
            prefix,
            command=self.command,
            partial_command=self.partial_command,
            timeout_seconds=self.timeout_seconds,
            command_env=self.command_env,
        )

    def pending_indexers(
        self, engine: sa.Engine, prefix: str, changed_entity_ids: Iterable[int]
    ) -> pd.DataFrame:
        """Which managed indexers do not show these products yet (see magento.freshness)."""
        return pending_indexers_for(engine, prefix, self.indexers, self.indexer_views, changed_entity_ids)
