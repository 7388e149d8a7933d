"""Is a batch visible in the shop yet? Which managed indexers still have its products pending."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.magento.indexers import read_indexer_states

PENDING_COLUMNS = ("indexer", "view_id", "pending_ids", "reason")


def pending_indexers(
    engine: sa.Engine,
    prefix: str,
    indexers: Sequence[str],
    view_map: Mapping[str, str],
    changed_ids: Iterable[int],
) -> pd.DataFrame:
    """One row (PENDING_COLUMNS) per installed managed indexer that does not show the batch yet.

    The indexers are `indexers`, their views in `view_map`. Not showing the batch is being invalid or working
    (a rebuild is due or running), or, when scheduled, some changed ids still in its changelog above
    mview_state.version_id (Magento's cron has not applied them).
    """
    ids = frozenset(int(i) for i in changed_ids)
    rows = []
    if ids:
        for state in read_indexer_states(engine, prefix, indexers, view_map):
            if not state.installed:
                continue
            waiting = ids & state.backlog_ids if state.scheduled else frozenset()
            if state.status in ("invalid", "working"):
                rows.append((state.indexer_id, state.view_id, len(ids), f"indexer_state {state.status}"))
            elif waiting:
                rows.append(
                    (
                        state.indexer_id,
                        state.view_id,
                        len(waiting),
                        f"{len(waiting)} id(s) in {state.view_id}_cl not applied yet",
                    )
                )
    return pd.DataFrame(rows, columns=list(PENDING_COLUMNS))
