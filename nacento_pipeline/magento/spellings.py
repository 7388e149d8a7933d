r"""One spelling per file: every media_gallery row of a file carries the same value, byte for byte.

Magento counts a file's uses by the exact value (`ResourceModel\Product\Gallery::countImageUses`, `value = ?`)
and deletes the file from storage when an admin removes an image whose count is 1 or less
(`Product\Gallery\UpdateHandler::canDeleteImage`). A product holding `/a/b/a.jpg` while another holds the
legacy `a/b/a.jpg` is counted once, so one admin removal deletes the other product's file. Older tools wrote
values without the leading slash (or with blanks or a doubled slash); the pipeline writes the canonical form
(core.paths.canonical_of). When a write gives a file a canonical row while other products hold it in another
spelling, those rows and their products' role values naming that spelling are rewritten to the canonical form
in the same transaction (`rewrite_spellings`); the audit reports files still spelled more than one way
(`mixed_spellings`) and its fix unifies them (`unify_mixed_spellings`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.chunks import chunked
from nacento_pipeline.core.paths import canonical_values
from nacento_pipeline.magento import bulk_sql
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.gallery.reader import unindexed
from nacento_pipeline.magento.journal import Journal

SPELLING_COLUMNS = ["value_id", "link_id", "stored", "canonical"]
CHUNK = 1000


def legacy_spelling_rows(conn: sa.Connection, db: MagentoDatabase) -> pd.DataFrame:
    """Linked media_gallery rows whose value is not in the canonical form.

    Not canonical: no leading slash, a doubled one, surrounding blanks. Columns value_id, link_id, stored,
    canonical. One statement, a scan of media_gallery.
    """
    t = db.tables
    mg, vte = t.media_gallery, t.value_to_entity
    value = mg.c.value
    odd = sa.or_(~value.like("/%"), value.like("//%"), value.like(" %"), value.like("% "))
    query = (
        sa.select(mg.c.value_id, vte.c[t.link], value)
        .join(vte, vte.c.value_id == mg.c.value_id)
        .where(unindexed(mg.c.attribute_id) == db.attribute_ids().media_gallery, value.is_not(None), odd)
    )
    rows = pd.DataFrame([tuple(r) for r in conn.execute(query)], columns=["value_id", "link_id", "stored"])
    rows["stored"] = rows["stored"].astype(str)
    rows["canonical"] = canonical_values(rows["stored"])
    # LIKE and the collation may match more than the bytes say: keep what really differs from its canonical
    # form
    return rows[rows["stored"] != rows["canonical"]].reset_index(drop=True)[SPELLING_COLUMNS]


def _links_holding(
    conn: sa.Connection, db: MagentoDatabase, links: list[int], values: list[str]
) -> set[tuple[int, str]]:
    """(link, value) pairs among these product links that hold one of `values` byte for byte."""
    t = db.tables
    mg, vte = t.media_gallery, t.value_to_entity
    found: set[tuple[int, str]] = set()
    wanted = set(values)
    for part in chunked(sorted(set(links)), CHUNK):
        query = (
            sa.select(vte.c[t.link], mg.c.value)
            .join(mg, mg.c.value_id == vte.c.value_id)
            .where(vte.c[t.link].in_(part), mg.c.value.in_(sorted(wanted)))
        )
        found |= {(int(link), str(v)) for link, v in conn.execute(query) if str(v) in wanted}
    return found


def rewrite_spellings(
    conn: sa.Connection, db: MagentoDatabase, rows: pd.DataFrame, journal: Journal | None = None
) -> int:
    """Rewrite these media_gallery rows and the role values naming them to their canonical value.

    The rows are SPELLING_COLUMNS; the role values are the products' (every role attribute, every store)
    naming the old spelling byte for byte. Inside the caller's transaction. A product that already holds the
    canonical value keeps its legacy row as it is (rewritten, it would hold the file twice; the batch's dedupe
    removes such a row). With `journal`, the products rewritten are journaled first (their whole before-image,
    as the batch's own products). Returns the rows rewritten.
    """
    if rows.empty:
        return 0
    t = db.tables
    rows = rows.drop_duplicates(["value_id", "link_id"])
    holding = _links_holding(conn, db, rows["link_id"].astype(int).tolist(), rows["canonical"].tolist())
    keep = [(int(link), c) not in holding for link, c in zip(rows["link_id"], rows["canonical"], strict=True)]
    rows = rows[pd.Series(keep, index=rows.index, dtype=bool)]
    if rows.empty:
        return 0
    if journal is not None:
        journal.before(conn, _products_of(conn, db, rows["link_id"].astype(int).tolist()))
    per_row = rows.drop_duplicates("value_id")
    bulk_sql.update(conn, t.media_gallery, {"value_id": per_row["value_id"]}, {"value": per_row["canonical"]})
    vc = t.varchar
    role_ids = list(db.attribute_ids().roles.values())
    named: list[tuple[int, int, str]] = []
    for part in chunked(sorted(set(rows["link_id"].astype(int))), CHUNK):
        query = sa.select(vc.c.value_id, vc.c[t.link], vc.c.value).where(
            vc.c[t.link].in_(part),
            vc.c.attribute_id.in_(role_ids),
            vc.c.value.in_(sorted(set(rows["stored"]))),
        )
        named += [(int(v), int(link), str(value)) for v, link, value in conn.execute(query)]
    roles = pd.DataFrame(named, columns=["role_row", "link_id", "stored"])
    roles = roles.merge(rows[["link_id", "stored", "canonical"]].drop_duplicates(), on=["link_id", "stored"])
    if len(roles):
        bulk_sql.update(conn, vc, {"value_id": roles["role_row"]}, {"value": roles["canonical"]})
    return len(per_row)


def _products_of(conn: sa.Connection, db: MagentoDatabase, links: list[int]) -> pd.DataFrame:
    """The products (sku, entity_id, link_id) of these links, to journal."""
    p = db.tables.product
    link = p.c[db.tables.link]
    rows = [
        tuple(r)
        for part in chunked(sorted(set(links)), CHUNK)
        for r in conn.execute(sa.select(p.c.sku, p.c.entity_id, link).where(link.in_(part)))
    ]
    return pd.DataFrame(rows, columns=["sku", "entity_id", "link_id"])


@dataclass
class LegacySpellings:
    """The catalog's rows not in the canonical form, read once per write, and the rewrite of a chunk's files.

    Read under the writer lock, by the first chunk that inserts a row; rewritten are those of the files a
    chunk inserts.
    """

    db: MagentoDatabase
    rows: pd.DataFrame | None = field(default=None, repr=False)

    def rewrite_for(
        self,
        conn: sa.Connection,
        values: Iterable[str],
        chunk_links: Iterable[int],
        journal: Journal | None = None,
    ) -> int:
        """Rewrite other products' rows of these (canonical) values to the canonical spelling.

        In `conn`'s transaction (see `rewrite_spellings`; with `journal`, their products journaled first). The
        chunk's own products (`chunk_links`) are left out: their rows and roles are what the chunk's delta
        writes. A product of a later chunk whose row is rewritten has that chunk planned again under the lock
        (its fingerprint changed), as for any change since the plan.
        """
        wanted = set(values)
        if not wanted:
            return 0
        if self.rows is None:
            self.rows = legacy_spelling_rows(conn, self.db)
        rows = self.rows[self.rows["canonical"].isin(wanted) & ~self.rows["link_id"].isin(set(chunk_links))]
        return rewrite_spellings(conn, self.db, rows, journal)


def mixed_spellings(db: MagentoDatabase) -> pd.DataFrame:
    """Files whose media_gallery rows carry more than one spelling.

    Columns canonical, spellings (how many), rows (the rows not in the canonical form). Two statements per
    CHUNK such files at most, after one scan.
    """
    with db.engine.connect() as conn:
        legacy = legacy_spelling_rows(conn, db)
        return _mixed(conn, db, legacy)[0]


def _mixed(
    conn: sa.Connection, db: MagentoDatabase, legacy: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the mixed files as `mixed_spellings` reports them, their legacy rows)."""
    columns = ["canonical", "spellings", "rows"]
    if legacy.empty:
        return pd.DataFrame(columns=columns), legacy
    mg = db.tables.media_gallery
    canonical: set[str] = set()
    for part in chunked(sorted(set(legacy["canonical"])), CHUNK):
        wanted = set(part)  # the collation may match other bytes (case, trailing blanks): compared again here
        canonical |= {
            str(v)
            for (v,) in conn.execute(sa.select(mg.c.value).where(mg.c.value.in_(part)))
            if str(v) in wanted
        }
    spellings = legacy.groupby("canonical")["stored"].nunique()
    spellings = spellings + spellings.index.isin(list(canonical)).astype(int)
    mixed = spellings[spellings > 1]
    rows = legacy[legacy["canonical"].isin(mixed.index)]
    report = pd.DataFrame(
        {
            "canonical": mixed.index,
            "spellings": mixed.to_numpy(),
            "rows": rows.groupby("canonical").size().reindex(mixed.index).to_numpy(),
        }
    )
    return report.sort_values("canonical").reset_index(drop=True), rows


def unify_mixed_spellings(db: MagentoDatabase) -> int:
    """Rewrite every file spelled more than one way to its canonical spelling (rows and role values).

    Under the writer lock, one transaction. Returns the rows rewritten.
    """
    with db.writer_lock() as lock, lock.transaction() as conn:
        _, rows = _mixed(conn, db, legacy_spelling_rows(conn, db))
        return rewrite_spellings(conn, db, rows)
