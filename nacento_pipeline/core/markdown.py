"""The one markdown-table renderer (Dagster metadata, reports): pure text in, text out."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import pandas as pd

MAX_TABLE_ROWS = 20
MAX_CELL_CHARS = 120
EMPTY = "_none_"


def markdown_cell(value: object, max_chars: int = MAX_CELL_CHARS) -> str:
    """A value as one table cell: pipes escaped, line breaks flattened, cut at `max_chars`."""
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")[:max_chars]


def markdown_table(
    frame: pd.DataFrame | None,
    columns: Sequence[str] | None = None,
    limit: int | None = MAX_TABLE_ROWS,
    *,
    right_aligned: Collection[str] = (),
    empty: str = EMPTY,
    max_cell: int = MAX_CELL_CHARS,
    total: int | None = None,
) -> str:
    """The first `limit` rows (all when None) of `columns` (all when None) of a frame as a markdown table.

    A note says how many rows were left out; `empty` for no rows; cells cut at `max_cell` characters.
    `total`: how many rows the frame's rows are the first of (core.first_rows.FirstRows), for the note.
    """
    if frame is None or frame.empty:
        return empty
    shown = frame[list(columns)] if columns else frame
    head = shown if limit is None else shown.head(limit)
    names = [str(c) for c in head.columns]
    lines = [
        "| " + " | ".join(names) + " |",
        "|" + "".join("---:|" if name in right_aligned else "---|" for name in names),
    ]
    lines += [
        "| " + " | ".join(markdown_cell(v, max_cell) for v in row) + " |"
        for row in head.itertuples(index=False)
    ]
    rows = len(shown) if total is None else max(total, len(shown))
    if rows > len(head):
        lines.append(f"\n_{rows - len(head)} more row(s) not shown_")
    return "\n".join(lines)


def counts_markdown(counts: Mapping[str, int], title: str = "kind") -> str:
    """Counters as a two-column table (`title`, count), in the mapping's order."""
    frame = pd.DataFrame({title: list(counts.keys()), "count": [int(v) for v in counts.values()]})
    return markdown_table(
        frame, limit=None, right_aligned=("count",), empty=f"| {title} | count |\n|---|---:|"
    )
