"""The database's own ceiling for the first sync's write: our writer's rows, inserted again plainly.

The rows our writer produced are inserted again with plain multi-row INSERTs (the DB-API driver's
`executemany`, which pymysql sends as multi-row INSERT statements) into a fresh copy of the same tables, same
chunking (one transaction per `chunk_size` SKUs, in batch order), with Magento's changelog triggers on the
varchar table present, plus the same `updated_at` touch per chunk.

No planning, no lookups, no id re-selects: ids are copied as the writer's run assigned them. The ratio of our
write phase to this is what issue 13's target 1 measures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products

CEILING_PREFIX = "cl_"


@dataclass
class Ceiling:
    """The ceiling's figures: wall and client CPU seconds, statements, rows per table and chunks."""

    seconds: float
    cpu_client: float
    statements: int
    rows: dict[str, int] = field(default_factory=dict)
    chunks: int = 0


def _read(conn: sa.Connection, table: sa.Table) -> pd.DataFrame:
    result = conn.execute(sa.select(table))
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _rows(frame: pd.DataFrame) -> list[tuple]:
    return list(frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None))


def measure_ceiling(src: MagentoDatabase, url: str, skus: list[str], chunk_size: int) -> Ceiling:
    """Copy what `src` holds for `skus` into fresh `cl_` tables with plain multi-row INSERTs, timed.

    What is copied: gallery, values, links, ETags, roles and sync state, chunked like the writer; only the
    inserts are timed.
    """
    t = src.tables
    link = t.link
    dst_engine = sa.create_engine(url)
    create_demo_schema(dst_engine, CEILING_PREFIX)
    seed_demo_products(dst_engine, skus, CEILING_PREFIX)
    dst = MagentoDatabase(url, prefix=CEILING_PREFIX)
    try:
        dst.refresh_schema()
        d = dst.tables
        with src.engine.connect() as conn:
            products = _read(conn, t.product)[["sku", link]]
            frames = {
                name: _read(conn, getattr(t, name))
                for name in (
                    "media_gallery",
                    "value_to_entity",
                    "media_gallery_value",
                    "gallery_meta",
                    "varchar",
                    "sku_sync_state",
                )
            }
        with dst.engine.connect() as conn:
            dst_products = _read(conn, d.product)[["sku", link]]
            seeded_varchar = _read(conn, d.varchar)
        # the writer's varchar rows: those the seeded products did not have already
        key = ["attribute_id", "store_id", link]
        varchar = frames["varchar"].merge(seeded_varchar[key], on=key, how="left", indicator=True)
        frames["varchar"] = varchar[varchar["_merge"] == "left_only"].drop(columns=["_merge", "value_id"])
        to_dst = dict(
            zip(
                products[link],
                products["sku"].map(dict(zip(dst_products["sku"], dst_products[link], strict=False))),
                strict=False,
            )
        )
        order = {sku: i // chunk_size for i, sku in enumerate(dict.fromkeys(skus))}
        chunk_of_link = {
            lk: order.get(sku, -1) for sku, lk in zip(products["sku"], products[link], strict=False)
        }

        # every row's chunk, through its product
        vte = frames["value_to_entity"]
        value_chunk = dict(zip(vte["value_id"], vte[link].map(chunk_of_link), strict=False))
        values = frames["media_gallery_value"]
        record_chunk = dict(zip(values["record_id"], values[link].map(chunk_of_link), strict=False))
        chunk_col = {
            "media_gallery": frames["media_gallery"]["value_id"].map(value_chunk),
            "value_to_entity": vte[link].map(chunk_of_link),
            "media_gallery_value": values[link].map(chunk_of_link),
            "gallery_meta": frames["gallery_meta"]["record_id"].map(record_chunk),
            "varchar": frames["varchar"][link].map(chunk_of_link),
            "sku_sync_state": frames["sku_sync_state"]["sku"].map(order)
            if "sku" in frames["sku_sync_state"]
            else pd.Series(0, index=frames["sku_sync_state"].index),
        }
        for name in ("value_to_entity", "media_gallery_value", "varchar"):
            frames[name] = frames[name].assign(**{link: frames[name][link].map(to_dst)})
        n_chunks = max(order.values(), default=-1) + 1
        plan: list[list[tuple[str, list[tuple]]]] = []
        names = (
            "media_gallery",
            "value_to_entity",
            "media_gallery_value",
            "gallery_meta",
            "varchar",
            "sku_sync_state",
        )
        for c in range(n_chunks):
            statements = []
            for name in names:
                part = frames[name][chunk_col[name].fillna(-1).astype(int).to_numpy() == c]
                if len(part):
                    columns = ", ".join(f"`{col}`" for col in part.columns)
                    marks = ", ".join(["%s"] * len(part.columns))
                    sql = f"INSERT INTO `{getattr(d, name).name}` ({columns}) VALUES ({marks})"
                    statements.append((sql, _rows(part)))
            links = [int(to_dst[lk]) for lk, ch in chunk_of_link.items() if ch == c]
            if links:
                statements.append(
                    (
                        f"UPDATE `{d.product.name}` SET updated_at = NOW() WHERE `{link}` IN "
                        f"({', '.join(map(str, links))})",
                        [],
                    )
                )
            plan.append(statements)

        raw = dst.engine.raw_connection()
        try:
            cursor = raw.cursor()
            count = 0
            started, cpu = time.perf_counter(), time.process_time()
            for statements in plan:
                for sql, rows in statements:
                    if rows:
                        cursor.executemany(sql, rows)
                    else:
                        cursor.execute(sql)
                    count += 1
                raw.commit()
            seconds, cpu_used = time.perf_counter() - started, time.process_time() - cpu
            cursor.close()
        finally:
            raw.close()
        rows = {getattr(t, name).name: int((chunk_col[name].fillna(-1) >= 0).sum()) for name in names}
        rows[t.product.name] = sum(1 for ch in chunk_of_link.values() if ch >= 0)
        return Ceiling(seconds=seconds, cpu_client=cpu_used, statements=count, chunks=n_chunks, rows=rows)
    finally:
        dst.dispose()
        dst_engine.dispose()
