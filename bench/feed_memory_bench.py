"""How fast the media feed's ETag memory is read: the ways of reading N remembered keys, side by side.

Run `python bench/feed_memory_bench.py` (100,000 keys, MariaDB on 127.0.0.1:3306 in a database of its own,
dropped at the end; `--db-url sqlite://` for a temporary SQLite file). The memory table is filled with
`--keys` rows, then the same wanted keys (all of them, and a `--share` of them) are read by each way, best of
`--repeat`. Prints seconds per way, never asserts.

Ways: `in-lists` (the old read: `SELECT ... WHERE object_key IN (5,000 keys)` per chunk, SQLAlchemy rows),
`in-lists raw` (the same statements, rows fetched by the driver's cursor), `scan` (one streamed SELECT of the
whole table, joined to the wanted keys in pandas), `temp join` (the wanted keys bulk-loaded into a temporary
table in one statement, joined by the server) and `read_memory` (what magento.media_feed does now).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd
import sqlalchemy as sa

from bench.gallery_bench import DEFAULT_DB_URL, bench_database
from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.frames import ETAG_COLUMNS
from nacento_pipeline.core.media_feed import MEMORY_COLUMNS
from nacento_pipeline.magento import bulk_sql
from nacento_pipeline.magento import media_feed as feed
from nacento_pipeline.magento.database import MagentoDatabase


def _keys(n: int) -> list[str]:
    return [f"media/catalog/product/{i % 16:x}/{i % 7:x}/{i % 16:x}{i % 7:x}{i:08d}-1.jpg" for i in range(n)]


def _fill(db: MagentoDatabase, keys: list[str]) -> None:
    db.tables.metadata.create_all(db.engine, tables=[db.tables.media_etag], checkfirst=True)
    frame = pd.DataFrame(
        {
            "value": keys,
            "key": keys,
            "exists": True,
            "etag": [f"{i:032x}" for i in range(len(keys))],
            "size": 1234,
            "content_type": "image/jpeg",
        }
    ).loc[:, list(ETAG_COLUMNS)]
    feed.remember(db, frame, datetime.now(UTC).replace(tzinfo=None))


def _columns(db: MagentoDatabase) -> list[sa.Column]:
    t = db.tables.media_etag
    return [t.c.object_key, t.c.present, t.c.etag, t.c.size, t.c.content_type]


def in_lists(db: MagentoDatabase, keys: list[str], raw: bool = False) -> int:
    """IN lists of 5,000 keys; rows as SQLAlchemy gives them, or (`raw`) as the driver's cursor does."""
    rows: list[tuple] = []
    table = db.tables.media_etag
    with db.engine.connect() as conn:
        for chunk in chunked(keys, 5000):
            result = conn.execute(sa.select(*_columns(db)).where(table.c.object_key.in_(chunk)))
            cursor = result.cursor
            rows += cursor.fetchall() if raw else [tuple(r) for r in result]  # type: ignore[union-attr]
    return len(pd.DataFrame.from_records(rows, columns=list(MEMORY_COLUMNS)))


def scan(db: MagentoDatabase, keys: list[str]) -> int:
    """One streamed SELECT of the whole table (server-side cursor), filtered in pandas."""
    with db.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=20000).execute(
            sa.select(*_columns(db))
        )
        frames = [
            pd.DataFrame.from_records(p, columns=list(MEMORY_COLUMNS)) for p in result.partitions(20000)
        ]
    whole = pd.concat(frames, ignore_index=True)
    return len(whole[whole["key"].isin(keys)])


def temp_join(db: MagentoDatabase, keys: list[str]) -> int:
    """The keys bulk-loaded into a temporary table in one statement, joined by the server."""
    md = sa.MetaData()
    wanted = sa.Table(
        "tmp_wanted_keys",
        md,
        sa.Column("object_key", sa.String(512), primary_key=True),
        prefixes=["TEMPORARY"],
    )
    table = db.tables.media_etag
    with db.engine.connect() as conn:
        wanted.create(conn)
        bulk_sql.insert(conn, wanted, {"object_key": keys})
        query = sa.select(*_columns(db)).join(wanted, wanted.c.object_key == table.c.object_key)
        rows = conn.execute(query).cursor.fetchall()  # type: ignore[union-attr]
        wanted.drop(conn)
        conn.rollback()
    return len(pd.DataFrame.from_records(rows, columns=list(MEMORY_COLUMNS)))


def _packed(db: MagentoDatabase) -> sa.ColumnElement[str]:
    t = db.tables.media_etag
    return sa.func.concat_ws(
        sa.func.char(0), t.c.present, t.c.size, t.c.etag, t.c.content_type, t.c.object_key
    )


def _unpack(rows: list) -> pd.DataFrame:
    parts = pd.Series([r[0] for r in rows], dtype=object).str.split("\x00", n=4, expand=True)
    return parts.set_axis(["exists", "size", "etag", "content_type", "key"], axis=1)


def scan_concat(db: MagentoDatabase, keys: list[str]) -> int:
    """One SELECT of the whole table, one packed text per row, filtered in pandas."""
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(_packed(db))).cursor.fetchall()  # type: ignore[union-attr]
    whole = _unpack(rows)
    return len(whole[whole["key"].isin(keys)])


def in_lists_concat(db: MagentoDatabase, keys: list[str]) -> int:
    """IN lists of 5,000 keys, one packed text per row."""
    rows: list[tuple] = []
    table = db.tables.media_etag
    with db.engine.connect() as conn:
        for chunk in chunked(keys, 5000):
            query = sa.select(_packed(db)).where(table.c.object_key.in_(chunk))
            rows += conn.execute(query).cursor.fetchall()  # type: ignore[union-attr]
    return len(_unpack(rows))


def current(db: MagentoDatabase, keys: list[str]) -> int:
    """magento.media_feed.read_memory as it is."""
    return len(feed.read_memory(db, keys))


WAYS: dict[str, Callable[[MagentoDatabase, list[str]], int]] = {
    "in-lists": in_lists,
    "in-lists raw": lambda db, keys: in_lists(db, keys, raw=True),
    "scan": scan,
    "temp join": temp_join,
    "scan concat": scan_concat,
    "in-lists concat": in_lists_concat,
    "read_memory": current,
}


def main() -> None:
    """Fill the memory, then time each way for all the keys and for a share of them."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--share", type=float, default=0.1, help="the smaller wanted set, share of --keys")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--ways", default=",".join(WAYS), help="comma-separated subset of: " + ", ".join(WAYS)
    )
    args = parser.parse_args()
    with bench_database(args.db_url) as url:
        db = MagentoDatabase(url)
        keys = _keys(args.keys)
        started = time.perf_counter()
        _fill(db, keys)
        print(f"filled {len(keys):,} keys in {time.perf_counter() - started:.2f} s ({db.dialect})")
        wanted_sets = {"all": keys, f"{args.share:.0%}": keys[:: max(1, round(1 / args.share))]}
        print(f"{'way':<14} " + " ".join(f"{name + ' s':>12}" for name in wanted_sets))
        for way in args.ways.split(","):
            fn = WAYS[way]
            cells = []
            for wanted in wanted_sets.values():
                best = float("inf")
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    found = fn(db, wanted)
                    best = min(best, time.perf_counter() - t0)
                assert found == len(wanted), (way, found, len(wanted))
                cells.append(f"{best:12.3f}")
            print(f"{way:<14} " + " ".join(cells))
        db.engine.dispose()


if __name__ == "__main__":
    main()
