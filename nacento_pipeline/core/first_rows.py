"""The first rows of a long run of frames, kept bounded: what a first-N metadata table shows, and a count.

A step that meets its rows part by part (a write chunk by chunk) keeps only the first `limit` of them (in
arrival order, or in `order` as a stable sort of all of them would give) and how many there were in all, so
the table it reports is the one the whole frame would give while at most `limit` + one part's rows are held.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


class FirstRows:
    """The first `limit` rows of the frames added, in arrival order or sorted stably by `order`.

    `total` counts every row added.
    """

    def __init__(self, limit: int, order: Sequence[str] = ()) -> None:
        self.limit = max(0, int(limit))
        self.order = list(order)
        self.total = 0
        self._head: pd.DataFrame | None = None

    def add(self, rows: pd.DataFrame) -> None:
        """Count the rows and keep those among the first `limit` so far."""
        if not len(rows):
            if self._head is None:
                self._head = rows.iloc[0:0]
            return
        self.total += len(rows)
        if self._head is not None and len(self._head) >= self.limit and not self.order:
            return  # arrival order: the first rows are taken already
        joined = rows if self._head is None or not len(self._head) else pd.concat([self._head, rows])
        if self.order:
            joined = joined.sort_values(self.order, kind="stable")
        self._head = joined.head(self.limit).reset_index(drop=True)

    @property
    def frame(self) -> pd.DataFrame:
        """The rows kept (an empty frame when none was ever added)."""
        return self._head if self._head is not None else pd.DataFrame()
