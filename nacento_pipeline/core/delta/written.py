"""What a write wrote, summed chunk by chunk: the figures a write result reports, without its rows.

`WrittenSummary.add` takes each chunk's written delta in turn and keeps only what does not grow with an
image count: rows per action, the per-SKU totals (core.delta.model.summarize), the products found and the
products changed (a few bytes per product), and a seeded sample of the written paths (the smallest hashes of
seed + path, so the same run id picks the same paths, whichever order the chunks came in). The deltas
themselves can then be dropped as soon as they are written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nacento_pipeline.core.delta.model import TOTAL_NAMES, GalleryDelta, sum_counts

# Actions whose path the write inserted or updated (what a post-write storage sample may look up).
SAMPLED_ACTIONS = ("inserted", "updated_value", "updated_meta")


@dataclass
class WrittenSummary:
    """Running figures of a write (see the module): add each written delta once."""

    seed: str = ""
    sample_size: int = 0  # written paths sampled (0: none)
    action_counts: dict[str, int] = field(default_factory=lambda: sum_counts(()))
    sku_totals: dict[str, int] = field(default_factory=dict)
    entity_ids: set[int] = field(default_factory=set)  # products of the batch found (changed or not)
    changed_entity_ids: set[int] = field(default_factory=set)
    _sample: pd.Series = field(default_factory=lambda: pd.Series([], dtype="uint64"))  # path -> hash

    def add(self, delta: GalleryDelta) -> None:
        """Sum one written delta into the figures."""
        self.action_counts = sum_counts((self.action_counts, delta.counts()))
        for name, value in delta.totals().items():
            self.sku_totals[name] = self.sku_totals.get(name, 0) + int(value)
        found = delta.sku_results["entity_id"].astype("int64")
        self.entity_ids.update(int(i) for i in found[found > 0])
        self.changed_entity_ids.update(delta.changed_entity_ids)
        items = delta.items
        values = pd.unique(items.loc[items["action"].isin(SAMPLED_ACTIONS), "value"].astype(str))
        if len(values) and self.sample_size > 0:
            hashes = pd.Series(pd.util.hash_array(np.asarray(values, dtype=object), hash_key=self._key()))
            hashes.index = pd.Index(values)
            joined = pd.concat([self._sample, hashes])
            self._sample = joined[~joined.index.duplicated()].nsmallest(self.sample_size)

    def _key(self) -> str:
        return hashlib.blake2b(
            self.seed.encode(), digest_size=8
        ).hexdigest()  # 16 characters, as pandas wants

    def sampled_values(self) -> list[str]:
        """Up to `sample_size` written paths, chosen by the seed, sorted."""
        return sorted(str(v) for v in self._sample.index)

    def totals(self) -> dict[str, int]:
        """The per-SKU totals with the connector's names (core.delta.model.TOTAL_NAMES), 0 before a delta."""
        return {name: self.sku_totals.get(name, 0) for name in TOTAL_NAMES}
