"""How Magento is told to reindex: the managed indexers' decisions and the configured trigger (NACENTO_REINDEX_*)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.reindex.decision import ReindexDecision
from nacento_pipeline.magento.reindex_trigger import ReindexTrigger
from nacento_pipeline.resources.settings import ReadsSettings
from nacento_pipeline.resources.wiring import make_trigger, pending_indexers_for, reindex_decisions


class ReindexResource(ReadsSettings):
    """Reindex decisions and their trigger (`changelog`, `command` or `dry-run`)."""

    def decide(self, engine: sa.Engine, changed_entity_ids: Iterable[int]) -> list[ReindexDecision]:
        return reindex_decisions(self.settings, engine, changed_entity_ids)

    def trigger(self, engine: sa.Engine) -> ReindexTrigger:
        return make_trigger(self.settings, engine)

    def pending_indexers(self, engine: sa.Engine, changed_entity_ids: Iterable[int]) -> pd.DataFrame:
        return pending_indexers_for(self.settings, engine, changed_entity_ids)
