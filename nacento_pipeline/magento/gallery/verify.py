"""Post-write verification in the database: does Magento hold what the write says it wrote?

Set-based, in two speeds. The fast path (`check_written`): per chunk of products ONE aggregate statement makes
the database count and checksum what it holds for the written rows (the kept links with their store-0 value
row and ETag, the role values outside the product's gallery) and Python compares those few numbers with the
ones it computes from the write's rows. Only a chunk whose numbers disagree takes the slow path: every gallery
link of its products read back into pandas (`read_gallery_links`) and compared row by row
(`written_rows_mismatches`, and the audit's `roles_outside_gallery`), so a real mismatch is still reported
with sku, value, action and problem. Anything the fast path cannot vouch for byte for byte (a legacy value in
another form, a duplicated link, a case-different path on a case-insensitive collation) only makes the numbers
differ: that chunk is checked the slow way, never passed unseen. Purges are the exception, since what must be
gone may be spelled any way: the products with a purged row (few, usually) have their links read back and
compared on canonical paths (`_purges_left`).

The database checks make no storage request (what storage holds was snapshotted before the plan);
magento.gallery.verify_write's `verify_write` adds a bounded storage re-check through the lookup it is given.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.frames import NO_SELECTION
from nacento_pipeline.core.paths import canonical_values
from nacento_pipeline.magento.catalog import live_link_ids
from nacento_pipeline.magento.database import MagentoDatabase, ensure_crc32
from nacento_pipeline.magento.gallery.audit import roles_outside_gallery
from nacento_pipeline.magento.gallery.reader import unindexed

CHUNK = 500  # products per statement (about 2,500 gallery rows at 5 images per product)
# Written rows per fast-path statement at most (a chunk closes early on products with many images): keeps
# the IN lists of written paths well below SQLite's 32,766 bound parameters.
ROWS_PER_STATEMENT = 5000
# Chunks checked at once on MySQL/MariaDB (one connection each).
PARALLEL_STATEMENTS = 2

# Actions after which the (product, path) link must exist with a store-0 row and the written ETag.
KEPT_ACTIONS = ("inserted", "updated_value", "updated_meta")
# Actions after which the (product, path) link must be gone.
REMOVED_ACTIONS = ("purged",)
MISMATCH_COLUMNS = ["sku", "value", "action", "problem"]
BAD_ROLE_COLUMNS = ["entity_id", "role", "value", "store_id"]


def _links_query(db: MagentoDatabase, link_ids: list[int]) -> sa.Select:
    """Every gallery link of these product links with its store-0 value row (record_id) and stored ETag."""
    t = db.tables
    vte, g, v, m = t.value_to_entity, t.media_gallery, t.media_gallery_value, t.gallery_meta
    link = vte.c[t.link]
    return (
        sa.select(link, g.c.value, v.c.record_id, m.c.s3_etag)
        .join(g, g.c.value_id == vte.c.value_id)
        .outerjoin(v, sa.and_(v.c.value_id == vte.c.value_id, v.c[t.link] == link, v.c.store_id == 0))
        .outerjoin(m, m.c.record_id == v.c.record_id)
        .where(
            link.in_(link_ids),
            unindexed(g.c.attribute_id) == db.attribute_ids().media_gallery,
            g.c.disabled == 0,
        )  # a row disabled at row level is not there for Magento
    )


def read_gallery_links(db: MagentoDatabase, entity_ids: Iterable[int]) -> pd.DataFrame:
    """entity_id, value (canonical), has_row (a store-0 value row), s3_etag of the products' gallery links.

    One SELECT per CHUNK products, by link column (catalog.live_link_ids). The slow path of the check after a
    write, read once for the written-rows and the roles comparison.
    """
    rows: list[tuple] = []
    with db.engine.connect() as conn:
        entity_of = {link: entity for entity, link in live_link_ids(conn, db.tables, entity_ids).items()}
        for chunk in chunked(sorted(entity_of), CHUNK):
            rows += [tuple(r) for r in conn.execute(_links_query(db, chunk))]
    frame = pd.DataFrame(rows, columns=["link_id", "value", "record_id", "s3_etag"])
    frame["entity_id"] = frame["link_id"].astype("int64").map(entity_of).astype("int64")
    frame["value"] = canonical_values(frame["value"])
    frame["has_row"] = frame["record_id"].notna()
    frame["s3_etag"] = frame["s3_etag"].fillna("").astype(str)
    # a path linked twice (legacy duplicates) counts once: the row with an ETag wins
    frame = frame.sort_values("s3_etag", ascending=False, kind="stable")
    return frame.drop_duplicates(["entity_id", "value"])[["entity_id", "value", "has_row", "s3_etag"]]


def _problems(merged: pd.DataFrame) -> pd.Series:
    """Why each written row (merged with the links read back) is not reflected, "" when it is."""
    linked = merged["_merge"] == "both"
    has_row = merged["has_row"].astype("boolean").fillna(False).astype(bool)
    stored = merged["s3_etag"].fillna("").astype(str)
    written = merged["etag"]
    removed = merged["action"].isin(REMOVED_ACTIONS)
    etag_differs = (written != "") & (stored != written)
    conditions = [removed & linked, removed, ~linked, ~has_row, etag_differs]
    choices = [
        "still linked",
        "",
        "not linked to the product",
        "no store-0 value row",
        "stored ETag " + stored.where(stored != "", "-") + " != written " + written,
    ]
    return pd.Series(np.select(conditions, choices, default=""), index=merged.index, dtype=object)


def _written_rows(items: pd.DataFrame) -> pd.DataFrame:
    """The rows of `items` the write says it wrote or removed.

    With int entity_id, canonical value and str etag.
    """
    written = items[
        items["action"].isin(KEPT_ACTIONS + REMOVED_ACTIONS) & (items["entity_id"].astype(int) > 0)
    ]
    return written.assign(
        entity_id=written["entity_id"].astype("int64"),
        value=canonical_values(written["value"]),
        etag=written["etag"].fillna("").astype(str),
    )


def written_rows_mismatches(items: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Written delta rows that the gallery links read back do not reflect: sku, value, action, problem.

    The rows are the KEPT_ACTIONS / REMOVED_ACTIONS of `items` (core.frames.DELTA_COLUMNS); `links` is
    `read_gallery_links` of at least the written products. Empty when the write is all there.
    """
    written = _written_rows(items)
    if written.empty:
        return pd.DataFrame(columns=MISMATCH_COLUMNS)
    merged = written.merge(links, on=["entity_id", "value"], how="left", indicator=True)
    merged["problem"] = _problems(merged)
    bad = merged[merged["problem"] != ""]
    return bad[MISMATCH_COLUMNS].sort_values(["sku", "value"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------------
# The fast path: a few numbers per chunk of products, computed by the database and by Python


@dataclass(frozen=True)
class WrittenCheck:
    """What `check_written` found.

    The mismatches and bad roles (both empty when the write is all there), the chunks of products checked
    and how many of them took the slow path.
    """

    mismatches: pd.DataFrame  # MISMATCH_COLUMNS
    bad_roles: pd.DataFrame  # BAD_ROLE_COLUMNS
    chunks: int
    slow_chunks: int


def checksum(texts: Iterable[str]) -> int:
    """Order-independent checksum: the sum of the CRC32 of each text's UTF-8 bytes.

    As MySQL's SUM(CRC32(..)) computes it (SQLite's with magento.database.ensure_crc32).
    """
    return sum(_crc32s(texts))


def _crc32s(texts: Iterable[str]) -> list[int]:
    return [zlib.crc32(text.encode()) for text in texts]


@dataclass(frozen=True)
class _Expected:
    """What the database must report for a chunk whose write is all there."""

    kept: int  # kept (product, path) links with a store-0 value row and an ETag row
    kept_checksum: int  # sum of CRC32(link|value|ETag) over them
    kept_keys: list[int]  # CRC32 of the kept paths


def _expected_by_chunk(written: pd.DataFrame, link_of: dict[int, int]) -> dict[int, _Expected | None]:
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
    expected: dict[int, _Expected | None] = {}
    for n, rows in keyed.groupby("chunk"):
        if n in skipped:
            expected[int(n)] = None
            continue
        done = rows["action"].isin(KEPT_ACTIONS)
        size, total = (int(sums.at[n, "size"]), int(sums.at[n, "sum"])) if n in sums.index else (0, 0)
        expected[int(n)] = _Expected(size, total, rows.loc[done, "key"].tolist())
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


def _links_numbers(db: MagentoDatabase, links: list[int], expected: _Expected) -> sa.Select:
    """One pass over every gallery link of the chunk's products: the count and checksum of its kept links.

    Restricted by link; the written paths are recognised in CASEs by their CRC32, a byte-exact key cheaper to
    pass and compare than the paths. Counted: the kept links to a written path with a store-0 value row and
    an ETag row, how many and the sum of CRC32(link|value|ETag) over their stored bytes (any other form,
    duplicate or ETag changes the numbers).
    A checksum collision can only add to the count, so it sends the chunk to the slow path, never past it.
    Purged paths are not looked for here: a link left in another spelling of the path (`//p`, ` /p`) has
    other bytes, so no checksum of the canonical path could see it (see `_purges_left`).
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


def _chunk_numbers_query(db: MagentoDatabase, links: list[int], expected: _Expected) -> sa.CompoundSelect:
    """The chunk's numbers in ONE statement.

    (name, kept links, their checksum) over the gallery links, and (name, role values outside the gallery, 0).
    """
    return sa.union_all(_links_numbers(db, links, expected), _roles_outside_numbers(db, links))


def _chunk_agrees(
    conn: sa.Connection, db: MagentoDatabase, links: list[int], expected: _Expected | None
) -> bool:
    """The database's numbers for this chunk equal the ones the write's rows imply."""
    if expected is None:
        return False
    found = {
        str(name): (int(a or 0), int(b or 0))
        for name, a, b in conn.execute(_chunk_numbers_query(db, links, expected))
    }
    return found == {"links": (expected.kept, expected.kept_checksum), "roles_outside": (0, 0)}


def _lanes(db: MagentoDatabase, chunks: int) -> int:
    """Connections the fast path spreads its chunks over.

    The server computes a chunk's numbers on one core, so on MySQL/MariaDB two chunks run at once (each on its
    own connection); SQLite, one file or memory shared by the process, gets one.
    """
    return max(1, min(chunks, PARALLEL_STATEMENTS if db.engine.dialect.name in ("mysql", "mariadb") else 1))


def _agreeing_lane(
    db: MagentoDatabase,
    work: list[tuple[int, list[int], _Expected | None]],
) -> list[tuple[int, bool]]:
    """Each chunk of `work` with whether the database agrees, on one connection of its own.

    A chunk of `work` is its number, its products' links and the expected numbers.
    """
    if not work:
        return []
    with db.engine.connect() as conn:
        ensure_crc32(conn)
        return [(n, _chunk_agrees(conn, db, links, expected)) for n, links, expected in work]


def _product_chunks(ids: list[int], rows_of: dict[int, int]) -> list[list[int]]:
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


def _purges_left(
    db: MagentoDatabase, items: pd.DataFrame, written: pd.DataFrame, checked: set[int]
) -> pd.DataFrame:
    """Purged rows still linked, compared on canonical paths.

    The links of the products with a purged row (those not already read back by the slow path, `checked`) read
    back and compared row by row. A link left as `//p` or ` /p` is the same image to Magento's storefront and
    must be reported; its bytes differ from any spelling the fast path's checksums could name.
    """
    purging = sorted(
        set(written.loc[written["action"].isin(REMOVED_ACTIONS), "entity_id"].tolist()) - checked
    )
    if not purging:
        return pd.DataFrame(columns=MISMATCH_COLUMNS)
    removed = items[items["action"].isin(REMOVED_ACTIONS) & items["entity_id"].astype("int64").isin(purging)]
    return written_rows_mismatches(removed, read_gallery_links(db, purging))


def _store_rows_query(db: MagentoDatabase, link_ids: list[int]) -> sa.Select:
    """The store-level (store_id > 0) value rows of these product links, with their gallery path."""
    t = db.tables
    v, g = t.media_gallery_value, t.media_gallery
    return (
        sa.select(v.c[t.link], g.c.value, v.c.store_id, v.c.label, v.c.position, v.c.disabled)
        .join(g, g.c.value_id == v.c.value_id)
        .where(v.c[t.link].in_(link_ids), v.c.store_id > 0)
    )


def store_value_mismatches(db: MagentoDatabase, store_values: pd.DataFrame) -> pd.DataFrame:
    """Store-level value rows the write set that the database does not hold as written.

    The rows are core.frames.STORE_WRITE_COLUMNS; label, position, disabled compared, NULL as NULL. Returns
    sku, value, action "store_value", problem. One SELECT per CHUNK products, the rows read back once.
    """
    if store_values.empty:
        return pd.DataFrame(columns=MISMATCH_COLUMNS)
    wanted = store_values.assign(
        entity_id=store_values["entity_id"].astype("int64"),
        value=canonical_values(store_values["value"]),
        store_id=store_values["store_id"].astype("int64"),
    )
    rows: list[tuple] = []
    with db.engine.connect() as conn:
        entity_of = {
            link: entity for entity, link in live_link_ids(conn, db.tables, wanted["entity_id"]).items()
        }
        for chunk in chunked(sorted(entity_of), CHUNK):
            rows += [tuple(r) for r in conn.execute(_store_rows_query(db, chunk))]
    held = pd.DataFrame(
        rows, columns=["link_id", "value", "store_id", "db_label", "db_position", "db_disabled"]
    )
    held["entity_id"] = held["link_id"].astype("int64").map(entity_of).astype("int64")
    held["value"] = canonical_values(held["value"])
    held["store_id"] = held["store_id"].astype("int64")
    held = held.drop_duplicates(["entity_id", "value", "store_id"], keep="last")
    merged = wanted.merge(held, on=["entity_id", "value", "store_id"], how="left", indicator=True)
    store = "store " + merged["store_id"].astype(str)
    problems = pd.Series("", index=merged.index, dtype=object)
    for name, db_name in (("label", "db_label"), ("position", "db_position"), ("disabled", "db_disabled")):
        written = merged[name].astype(object).where(merged[name].notna(), None).map(_comparable)
        found = merged[db_name].astype(object).where(merged[db_name].notna(), None).map(_comparable)
        differs = written != found
        problems = problems.where(
            ~differs | (problems != ""),
            name + " in " + store + " is " + found.map(repr) + ", written " + written.map(repr),
        )
    problems = problems.where(merged["_merge"] == "both", "no value row in " + store)
    bad = merged.assign(action="store_value", problem=problems)
    bad = bad[bad["problem"] != ""]
    return bad[MISMATCH_COLUMNS].sort_values(["sku", "value"], kind="stable").reset_index(drop=True)


def _comparable(value: object) -> object:
    """A stored or written field as one comparable thing: whole numbers as int, text as str, NULL as None."""
    if value is None:
        return None
    if isinstance(value, (bool, int, float, np.integer, np.floating)):
        return int(value)
    return str(value)


def check_written(
    db: MagentoDatabase,
    items: pd.DataFrame,
    entity_ids: Iterable[int],
    store_values: pd.DataFrame | None = None,
) -> WrittenCheck:
    """The write's rows against the database, and the roles of the products against their galleries.

    `items` holds core.frames.DELTA_COLUMNS, `entity_ids` the batch's products. One aggregate statement per
    CHUNK products, the detailed read-back and comparison only for the chunks whose numbers disagree. The
    store-level rows the write set (`store_values`, core.frames.STORE_WRITE_COLUMNS) are read back and
    compared field by field (`store_value_mismatches`).
    """
    written = _written_rows(items)
    ids = sorted({int(i) for i in entity_ids} | set(written["entity_id"].tolist()))
    chunks = _product_chunks(ids, written["entity_id"].value_counts().to_dict())
    chunk_of = {entity: n for n, chunk in enumerate(chunks) for entity in chunk}
    written = written.assign(chunk=written["entity_id"].map(chunk_of))
    with db.engine.connect() as conn:
        link_of = live_link_ids(conn, db.tables, ids)
    expected = _expected_by_chunk(written, link_of)
    nothing = _Expected(0, 0, [])
    work = [
        (n, sorted({link_of[e] for e in chunk if e in link_of}), expected.get(n, nothing))
        for n, chunk in enumerate(chunks)
    ]
    lanes = _lanes(db, len(work))
    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="verify") as pool:
        agreed = pool.map(lambda lane: _agreeing_lane(db, work[lane::lanes]), range(lanes))
        slow = [chunks[n] for n in sorted(n for lane in agreed for n, ok in lane if not ok)]
    mismatches, bad_roles = [pd.DataFrame(columns=MISMATCH_COLUMNS)], [pd.DataFrame(columns=BAD_ROLE_COLUMNS)]
    mismatches.append(_purges_left(db, items, written, {e for chunk in slow for e in chunk}))
    if store_values is not None:
        mismatches.append(store_value_mismatches(db, store_values))
    for chunk in slow:
        links_read = read_gallery_links(db, chunk)
        mismatches.append(
            written_rows_mismatches(items[items["entity_id"].astype("int64").isin(chunk)], links_read)
        )
        bad_roles.append(roles_outside_gallery(db, chunk, gallery_links=links_read))
    return WrittenCheck(
        mismatches=concat_frames(mismatches)
        .sort_values(["sku", "value"], kind="stable")
        .reset_index(drop=True),
        bad_roles=concat_frames(bad_roles).reset_index(drop=True),
        chunks=len(chunks),
        slow_chunks=len(slow),
    )


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of the same columns one after the other (the first, empty, gives the columns)."""
    filled = [f for f in frames[1:] if len(f)]
    return pd.concat(filled, ignore_index=True) if filled else frames[0]
