"""The post-write check's fast path by numbers: what the database must count and checksum per chunk.

Per chunk of products ONE aggregate statement (`_chunk_numbers_query`) counts and checksums the kept links
with their store-0 value row and ETag and counts the role values outside the gallery; Python computes the
same numbers from the write's rows (`expected_by_chunk`) and a chunk agrees when they match
(`agreeing_lane`). magento.gallery.verify's `check_written` orchestrates, and reads back the chunks that
disagree.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.frames import NO_SELECTION
from nacento_pipeline.magento.database import MagentoDatabase, ensure_crc32
from nacento_pipeline.magento.gallery.reader import unindexed

CHUNK = 500  # products per statement (about 2,500 gallery rows at 5 images per product)
# Written rows per fast-path statement at most (a chunk closes early on products with many images): keeps
# the IN lists of written paths well below SQLite's 32,766 bound parameters.
ROWS_PER_STATEMENT = 5000
# Chunks checked at once on MySQL/MariaDB (one connection each).
PARALLEL_STATEMENTS = 2

# Actions after which the (product, path) link must exist with a store-0 row and the written ETag.
KEPT_ACTIONS = ("inserted", "updated_value", "updated_meta")


def checksum(texts: Iterable[str]) -> int:
    """Order-independent checksum: the sum of the CRC32 of each text's UTF-8 bytes.

    As MySQL's SUM(CRC32(..)) computes it (SQLite's with magento.database.ensure_crc32).
    """
    return sum(_crc32s(texts))


def _crc32s(texts: Iterable[str]) -> list[int]:
    return [zlib.crc32(text.encode()) for text in texts]


@dataclass(frozen=True)
class ExpectedNumbers:
    """What the database must report for a chunk whose write is all there."""

    kept: int  # kept (product, path) links with a store-0 value row and an ETag row
    kept_checksum: int  # sum of CRC32(link|value|ETag) over them
    kept_keys: list[int]  # CRC32 of the kept paths


def expected_by_chunk(written: pd.DataFrame, link_of: dict[int, int]) -> dict[int, ExpectedNumbers | None]:
    """Per chunk (the `chunk` column of the written rows): the numbers the database must report.

    None when they cannot vouch for the chunk (a kept row written without an ETag, a product with no live
    link): that chunk takes the slow path. One pass over all the written rows, not one per chunk.
    """
    links = written["entity_id"].map(link_of)
    kept_rows = written["action"].isin(KEPT_ACTIONS)
    unverifiable = links.isna() | (kept_rows & (written["etag"] == ""))
    kept = written[kept_rows & ~unverifiable].drop_duplicates(["entity_id", "value"])
    texts = links[kept.index].astype("int64").astype(str) + "|" + kept["value"] + "|" + kept["etag"]
    kept = kept.assign(crc=np.array(_crc32s(texts.to_numpy(dtype=object)), dtype="int64"))
    sums = kept.groupby("chunk")["crc"].agg(["size", "sum"])
    skipped = set(written.loc[unverifiable, "chunk"].tolist())
    keyed = written.assign(key=_crc32s(written["value"].to_numpy(dtype=object)))
    expected: dict[int, ExpectedNumbers | None] = {}
    for n, rows in keyed.groupby("chunk"):
        if n in skipped:
            expected[int(n)] = None
            continue
        done = rows["action"].isin(KEPT_ACTIONS)
        size, total = (int(sums.at[n, "size"]), int(sums.at[n, "sum"])) if n in sums.index else (0, 0)
        expected[int(n)] = ExpectedNumbers(size, total, rows.loc[done, "key"].tolist())
    return expected


def _in_ints(expr: sa.ColumnElement, values: Iterable[int]) -> sa.ColumnElement[bool]:
    """`expr IN (...)` with the integers written into the statement as digits (false for none).

    Integers only, so nothing needs escaping; for the thousands of ids and path checksums of a chunk, binding
    or literal-rendering them one by one cost the client more than the statement cost the server.
    """
    wanted = sorted({int(v) for v in values})
    if not wanted:
        return sa.false()
    return expr.op("IN", is_comparison=True)(sa.literal_column("(" + ", ".join(map(str, wanted)) + ")"))


def _links_numbers(db: MagentoDatabase, links: list[int], expected: ExpectedNumbers) -> sa.Select:
    """One pass over every gallery link of the chunk's products: the count and checksum of its kept links.

    Restricted by link; the written paths are recognised in CASEs by their CRC32, a byte-exact key cheaper to
    pass and compare than the paths. Counted: the kept links to a written path with a store-0 value row and
    an ETag row, how many and the sum of CRC32(link|value|ETag) over their stored bytes (any other form,
    duplicate or ETag changes the numbers).
    A checksum collision can only add to the count, so it sends the chunk to the slow path, never past it.
    Purged paths are not looked for here: a link left in another spelling of the path (`//p`, ` /p`) has
    other bytes, so no checksum of the canonical path could see it (see verify.`_purges_left`).
    """
    t = db.tables
    vte, g, v, m = t.value_to_entity, t.media_gallery, t.media_gallery_value, t.gallery_meta
    link = vte.c[t.link]
    kept = sa.and_(_in_ints(sa.func.crc32(g.c.value), expected.kept_keys), m.c.s3_etag.is_not(None))
    text = sa.cast(link, sa.String) + sa.literal("|") + g.c.value + sa.literal("|") + m.c.s3_etag
    return (
        sa.select(
            sa.literal("links"),
            sa.func.sum(sa.case((kept, 1), else_=0)),
            sa.func.sum(sa.case((kept, sa.func.crc32(text)), else_=0)),
        )
        .select_from(vte)
        .join(
            g,
            sa.and_(
                g.c.value_id == vte.c.value_id,
                unindexed(g.c.attribute_id) == db.attribute_ids().media_gallery,
                g.c.disabled == 0,
            ),
        )
        .outerjoin(v, sa.and_(v.c.value_id == vte.c.value_id, v.c[t.link] == link, v.c.store_id == 0))
        .outerjoin(m, m.c.record_id == v.c.record_id)
        .where(_in_ints(link, links))
    )


def _roles_outside_numbers(db: MagentoDatabase, links: list[int]) -> sa.Select:
    """Role values (not no_selection, any store) of these products naming no path of their own gallery.

    Compared byte for byte: there must be none. Byte for byte (HEX on both sides) because MariaDB's collations
    compare paths case-insensitively and a case-different path is another file. An anti-join, not NOT EXISTS:
    MariaDB caches a correlated subquery's result by its outer values compared under their collation, so a
    case-different role of the same product got the cached answer of the right one (the wrong answers the
    roles check once saw with CAST AS BINARY). A value in another form (no leading slash) counts here and is
    settled by the slow path's canonical comparison.
    """
    t = db.tables
    r, own, g = t.varchar, t.value_to_entity, t.media_gallery
    gallery = (
        sa.select(own.c[t.link].label("link_id"), g.c.value)
        .join(
            g,
            sa.and_(
                g.c.value_id == own.c.value_id,
                unindexed(g.c.attribute_id) == db.attribute_ids().media_gallery,
                g.c.disabled == 0,
            ),
        )
        .where(_in_ints(own.c[t.link], links))
        .subquery("own_paths")
    )  # the chunk's galleries only: SQLite materialises a joined table here, so it is bounded by the links
    query = (
        sa.select(sa.literal("roles_outside"), sa.func.count(), sa.literal(0))
        .select_from(
            r.outerjoin(
                gallery,
                sa.and_(
                    gallery.c.link_id == r.c[t.link], sa.func.hex(gallery.c.value) == sa.func.hex(r.c.value)
                ),
            )
        )
        .where(
            _in_ints(r.c[t.link], links),
            r.c.attribute_id.in_(list(db.attribute_ids().roles.values())),
            r.c.value.is_not(None),
            r.c.value != NO_SELECTION,
            gallery.c.link_id.is_(None),
        )
    )
    hint = db.link_key_hint(r)
    return query.with_hint(r, hint, dialect_name=db.dialect) if hint else query


def _chunk_numbers_query(
    db: MagentoDatabase, links: list[int], expected: ExpectedNumbers
) -> sa.CompoundSelect:
    """The chunk's numbers in ONE statement.

    (name, kept links, their checksum) over the gallery links, and (name, role values outside the gallery, 0).
    """
    return sa.union_all(_links_numbers(db, links, expected), _roles_outside_numbers(db, links))


def _chunk_agrees(
    conn: sa.Connection, db: MagentoDatabase, links: list[int], expected: ExpectedNumbers | None
) -> bool:
    """The database's numbers for this chunk equal the ones the write's rows imply."""
    if expected is None:
        return False
    found = {
        str(name): (int(a or 0), int(b or 0))
        for name, a, b in conn.execute(_chunk_numbers_query(db, links, expected))
    }
    return found == {"links": (expected.kept, expected.kept_checksum), "roles_outside": (0, 0)}


def statement_lanes(db: MagentoDatabase, chunks: int) -> int:
    """Connections the fast path spreads its chunks over.

    The server computes a chunk's numbers on one core, so on MySQL/MariaDB two chunks run at once (each on its
    own connection); SQLite, one file or memory shared by the process, gets one.
    """
    return max(1, min(chunks, PARALLEL_STATEMENTS if db.engine.dialect.name in ("mysql", "mariadb") else 1))


def agreeing_lane(
    db: MagentoDatabase,
    work: list[tuple[int, list[int], ExpectedNumbers | None]],
) -> list[tuple[int, bool]]:
    """Each chunk of `work` with whether the database agrees, on one connection of its own.

    A chunk of `work` is its number, its products' links and the expected numbers.
    """
    if not work:
        return []
    with db.engine.connect() as conn:
        ensure_crc32(conn)
        return [(n, _chunk_agrees(conn, db, links, expected)) for n, links, expected in work]


def product_chunks(ids: list[int], rows_of: dict[int, int]) -> list[list[int]]:
    """Consecutive chunks of the sorted product ids.

    At most CHUNK products and, unless a single product has more, at most ROWS_PER_STATEMENT written rows
    each.
    """
    chunks: list[list[int]] = []
    current: list[int] = []
    rows = 0
    for entity in ids:
        n = rows_of.get(entity, 0)
        if current and (len(current) == CHUNK or rows + n > ROWS_PER_STATEMENT):
            chunks.append(current)
            current, rows = [], 0
        current.append(entity)
        rows += n
    return [*chunks, current] if current else chunks
