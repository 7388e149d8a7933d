"""Large reads of our own tables by key: one scan or IN lists, each row fetched as one packed text on MySQL.

A re-sync of the whole catalog asks for most rows of a table (the ETag memory, the per-SKU digests): then one
SELECT of the whole table, filtered in pandas, costs less than IN lists of thousands of keys (the server
looks each key up, the client escapes each one). On MySQL/MariaDB, pymysql decodes every field of every row
in Python, so each row is fetched as one text (its columns NUL-separated, NULL as "") and split by pyarrow,
with no Python call per row: 100,000 rows of five columns in ~0.5 s instead of ~2.6 s by IN lists
(bench/feed_memory_bench.py). Other databases fetch the columns as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.membership import is_in

SCAN_SHARE = 0.25  # keys asked / rows in the table from which one scan is read instead of IN lists
SCAN_MIN_KEYS = 20_000  # below, IN lists without counting the table first (they take well under a second)
SEPARATOR = "\x00"  # between the packed columns; only the last column may hold it


def rows_for_keys(
    conn: sa.Connection,
    query: sa.Select,
    key: sa.ColumnElement,
    keys: Sequence[str],
    *,
    table: sa.Table,
    chunk: int,
) -> pd.DataFrame:
    """The rows of `query` whose `key` (one of its columns) is in `keys`, as packed_rows gives them.

    By one scan of the whole query when the keys are at least SCAN_SHARE of `table`'s rows, else by IN lists
    of `chunk` keys.
    """
    keys = list(keys)
    if not keys:
        return packed_rows(conn, query.where(sa.false()))
    count = sa.select(sa.func.count()).select_from(table)
    if len(keys) >= SCAN_MIN_KEYS and len(keys) >= SCAN_SHARE * int(conn.execute(count).scalar() or 0):
        whole = packed_rows(conn, query)
        return whole[is_in(whole[key.name], keys)].reset_index(drop=True)
    frames = [packed_rows(conn, query.where(key.in_(part))) for part in chunked(keys, chunk)]
    return pd.concat(frames, ignore_index=True)


def packed_rows(conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
    """The rows of `query`, one column per selected column (named by its name).

    MySQL/MariaDB: every value as text (NULL as ""), read as one packed text per row; no column but the last
    may hold a NUL character (SKUs, ETags, hashes, numbers and HTTP values hold none). Other databases: the
    driver's values.
    """
    names = [c.name for c in query.selected_columns]
    if conn.dialect.name != "mysql":
        return pd.DataFrame(_driver_rows(conn, query), columns=names)
    texts = [sa.func.coalesce(c, "") for c in query.selected_columns]
    rows = _driver_rows(conn, query.with_only_columns(sa.func.concat_ws(SEPARATOR, *texts)))
    if not rows:
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in names})
    packed = pa.array([r[0] for r in rows], type=pa.large_string())
    parts = pc.split_pattern(packed, SEPARATOR, max_splits=len(names) - 1)
    if not pc.all(pc.equal(pc.list_value_length(parts), len(names))).as_py():
        raise ValueError(f"a packed row without its {len(names)} fields ({', '.join(names)})")
    flat = parts.flatten()
    return pd.DataFrame(
        {
            name: flat.take(np.arange(n, len(flat), len(names))).to_numpy(zero_copy_only=False)
            for n, name in enumerate(names)
        }
    )


def _driver_rows(conn: sa.Connection, query: sa.Select) -> list[tuple]:
    """The driver cursor's tuples (SQLAlchemy's Row objects cost more than the query on large reads)."""
    result = conn.execute(query)
    try:
        return list(result.cursor.fetchall()) if result.cursor is not None else []
    finally:
        result.close()
