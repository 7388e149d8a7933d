"""Our tables of the media change feed, in Magento's database: changed keys, the ETag memory, the last full snapshot.

- `nacento_media_feed_event`: one row per bucket event for the media prefix (key, created/removed, the ETag when
  the event carries one, the event's time, when it was drained). Rows older than the last full snapshot are
  deleted when a full snapshot is recorded: that snapshot looked at every key they name.
- `nacento_media_etag`: the last known state (present, ETag, size, Content-Type) of every media key a snapshot
  looked up; the feed-mode snapshot reads the keys no event named from here.
- `nacento_media_feed_state`: when the last full snapshot started (`last_full_snapshot`).

Set-based: one statement per chunk of keys, never one per key. Times are naive UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.media_feed import MEMORY_COLUMNS
from nacento_pipeline.magento import bulk_sql
from nacento_pipeline.magento.database import MagentoDatabase

LAST_FULL = "last_full_snapshot"
READ_CHUNK = 5000  # keys per IN (...) of the memory read
SCAN_SHARE = 0.25  # wanted keys / remembered rows from which the memory read is one scan of the table
SCAN_MIN_KEYS = 20_000  # below, IN lists without counting the table first (they take well under a second)
# A packed memory row (MySQL/MariaDB): its fields in this order, NUL-separated (HTTP values hold no NUL), the key
# last so that it may hold any character.
_PACKED = ("present", "size", "etag", "content_type", "key")
_SEPARATOR = "\x00"


def record_events(db: MagentoDatabase, events: pd.DataFrame, received_at: datetime) -> int:
    """Insert the drained events (columns key, created, etag, event_time) and forget the remembered state of the
    keys they name, in one transaction; committed on return, so the caller may acknowledge their messages."""
    if events.empty:
        return 0
    table, memory = db.tables.media_feed_event, db.tables.media_etag
    times = [None if pd.isna(t) else t for t in events["event_time"]]
    with db.engine.begin() as conn:
        for chunk in chunked(sorted(set(events["key"].astype(str))), READ_CHUNK):
            conn.execute(sa.delete(memory).where(memory.c.object_key.in_(chunk)))
        return bulk_sql.insert(
            conn,
            table,
            {
                "object_key": events["key"].astype(str).to_numpy(),
                "created": events["created"].astype(int).to_numpy(),
                "etag": [e or None for e in events["etag"]],
                "event_time": times,
                "received_at": received_at,
            },
        )


def event_keys_since(db: MagentoDatabase, since: datetime | None) -> list[str]:
    """The distinct keys events named since `since` (every recorded event when None)."""
    table = db.tables.media_feed_event
    query = sa.select(table.c.object_key).distinct()
    if since is not None:
        query = query.where(table.c.received_at >= since)
    with db.engine.connect() as conn:
        return [str(k) for k in conn.execute(query).scalars()]


def read_memory(db: MagentoDatabase, keys: Sequence[str]) -> pd.DataFrame:
    """The remembered state (MEMORY_COLUMNS) of those of `keys` a snapshot looked up before.

    When the keys are at least SCAN_SHARE of the memory (a re-sync of the whole catalog), one SELECT of the whole
    table, filtered here, costs less than IN lists (bench/feed_memory_bench.py: 100,000 keys in 0.45 s against
    2.6 s for 20 IN lists of 5,000 on MariaDB); fewer keys are read by IN lists of READ_CHUNK.
    """
    keys = list(keys)
    table = db.tables.media_etag
    with db.engine.connect() as conn:
        scan = len(keys) >= SCAN_MIN_KEYS and len(keys) >= SCAN_SHARE * _remembered(conn, table)
        if scan:
            frames = [_memory_rows(conn, table, None)]
        else:
            frames = [_memory_rows(conn, table, chunk) for chunk in chunked(keys, READ_CHUNK)]
    frame = pd.concat(frames, ignore_index=True) if frames else _memory_frame([], packed=False)
    if scan:
        frame = frame[frame["key"].isin(keys)].reset_index(drop=True)
    return frame


def _remembered(conn: sa.Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


def _memory_rows(conn: sa.Connection, table: sa.Table, keys: list[str] | None) -> pd.DataFrame:
    """The memory rows of `keys` (every row when None) as a MEMORY_COLUMNS frame.

    MySQL/MariaDB: each row comes as one text (present, size, ETag, Content-Type, key, NUL-separated, the key
    last so it may hold any character), fetched by the driver's cursor: pymysql decodes each field in Python,
    so one field per row instead of five is most of the read's time saved. Other databases: the columns.
    """
    c = table.c
    packed = conn.dialect.name == "mysql"
    if packed:
        columns: list[sa.ColumnElement] = [
            sa.func.concat_ws(sa.literal(_SEPARATOR), c.present, c.size, c.etag, c.content_type, c.object_key)
        ]
    else:
        columns = [c.object_key, c.present, c.etag, c.size, c.content_type]
    query = sa.select(*columns)
    if keys is not None:
        query = query.where(c.object_key.in_(keys))
    result = conn.execute(query)
    try:
        rows = list(result.cursor.fetchall()) if result.cursor is not None else []
    finally:
        result.close()
    return _memory_frame(rows, packed=packed)


def _memory_frame(rows: list, packed: bool) -> pd.DataFrame:
    """MEMORY_COLUMNS from the driver's rows: the columns, or one packed text per row split by pyarrow (no
    Python call per row)."""
    if packed and rows:
        texts = pa.array([r[0] for r in rows], type=pa.large_string())
        parts = pc.split_pattern(texts, _SEPARATOR, max_splits=len(_PACKED) - 1)
        if not pc.all(pc.equal(pc.list_value_length(parts), len(_PACKED))).as_py():
            raise ValueError("a packed memory row without its five fields")
        flat = parts.flatten()
        field = {name: flat.take(np.arange(n, len(flat), len(_PACKED))) for n, name in enumerate(_PACKED)}
        frame = pd.DataFrame(
            {
                "key": field["key"].to_numpy(zero_copy_only=False),
                "exists": pc.equal(field["present"], "1").to_numpy(zero_copy_only=False),
                "etag": field["etag"].to_numpy(zero_copy_only=False),
                "size": pc.cast(field["size"], pa.int64()).to_numpy(),
                "content_type": field["content_type"].to_numpy(zero_copy_only=False),
            }
        )
    else:
        frame = pd.DataFrame([tuple(r) for r in rows], columns=list(MEMORY_COLUMNS))
    return frame.astype(
        {"key": object, "exists": bool, "etag": object, "size": "int64", "content_type": object}
    )


def remember(db: MagentoDatabase, frame: pd.DataFrame, seen_at: datetime) -> None:
    """Upsert the state of the looked-up keys (an ETAG_COLUMNS frame) into the memory, in one transaction."""
    if frame.empty:
        return
    table = db.tables.media_etag
    with db.engine.begin() as conn:
        bulk_sql.upsert(
            conn,
            table,
            {
                "object_key": frame["key"].astype(str).to_numpy(dtype=object),
                "present": frame["exists"].astype(int).to_numpy(),
                "etag": frame["etag"].astype(str).to_numpy(dtype=object),
                "size": frame["size"].astype("int64").to_numpy(),
                "content_type": frame["content_type"].astype(str).to_numpy(dtype=object),
                "seen_at": seen_at,
            },
            keys=["object_key"],
            update=["present", "etag", "size", "content_type", "seen_at"],
        )


def last_full_snapshot(db: MagentoDatabase) -> datetime | None:
    table = db.tables.media_feed_state
    with db.engine.connect() as conn:
        return conn.execute(sa.select(table.c.value_time).where(table.c.name == LAST_FULL)).scalar()


def record_full_snapshot(db: MagentoDatabase, started_at: datetime) -> None:
    """The full snapshot that started at `started_at` is done: note it, and drop the events received before it."""
    state, events = db.tables.media_feed_state, db.tables.media_feed_event
    with db.engine.begin() as conn:
        conn.execute(sa.delete(events).where(events.c.received_at < started_at))
        bulk_sql.upsert(
            conn,
            state,
            {"name": [LAST_FULL], "value_time": [started_at]},
            keys=["name"],
            update=["value_time"],
        )
