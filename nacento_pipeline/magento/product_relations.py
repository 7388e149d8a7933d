"""Parents of products (configurable, grouped, bundle): their pages show a changed child's images.

They are read from `catalog_product_super_link` and `catalog_product_relation`, so their pages are refreshed
too.

Set-based: one statement per table and chunk of child ids. Missing tables read as no parents.
On content-staging schemas (Adobe Commerce) both tables name the parent by `row_id`; it is mapped back
to the parent's entity_id through catalog_product_entity.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from nacento_pipeline.magento.catalog import in_chunks

_UINT = sa.Integer().with_variant(mysql.INTEGER(unsigned=True), "mysql", "mariadb")


def relation_tables(prefix: str = "") -> tuple[sa.MetaData, sa.Table, sa.Table]:
    """Magento 2.4.8's two relation tables (declarative schema), for reads and for the demo/test schema."""
    metadata = sa.MetaData()
    super_link = sa.Table(
        f"{prefix}catalog_product_super_link",
        metadata,
        sa.Column("link_id", _UINT, primary_key=True, autoincrement=True),
        sa.Column("product_id", _UINT, nullable=False, server_default="0"),
        sa.Column("parent_id", _UINT, nullable=False, server_default="0"),
        sa.UniqueConstraint("product_id", "parent_id"),
    )
    relation = sa.Table(
        f"{prefix}catalog_product_relation",
        metadata,
        sa.Column("parent_id", _UINT, primary_key=True),
        sa.Column("child_id", _UINT, primary_key=True),
    )
    return metadata, super_link, relation


def create_relation_tables(engine: sa.Engine, prefix: str = "") -> None:
    """Create both tables when missing (demo and tests; a real Magento has them)."""
    relation_tables(prefix)[0].create_all(engine, checkfirst=True)


def read_parents(engine: sa.Engine, child_ids: Iterable[int], prefix: str = "") -> dict[int, set[int]]:
    """Child entity_id -> parent entity_ids, from both tables (only children that have parents)."""
    ids = sorted({int(i) for i in child_ids})
    _, super_link, relation = relation_tables(prefix)
    inspector = sa.inspect(engine)
    existing = set(inspector.get_table_names())
    product = f"{prefix}catalog_product_entity"
    staged = product in existing and "row_id" in {c["name"] for c in inspector.get_columns(product)}
    sources = [
        (t, child, parent)
        for t, child, parent in (
            (super_link, super_link.c.product_id, super_link.c.parent_id),
            (relation, relation.c.child_id, relation.c.parent_id),
        )
        if t.name in existing
    ]
    parents: dict[int, set[int]] = {}
    if not ids or not sources:
        return parents
    with engine.connect() as conn:
        for _table, child, parent in sources:
            parent_col: sa.ColumnElement[int] = parent
            query_from = None
            if staged:  # parent_id is a row_id: any version of the parent maps to its entity_id
                p = sa.table(product, sa.column("row_id"), sa.column("entity_id"))
                query_from = child.table.join(p, p.c.row_id == parent)
                parent_col = p.c.entity_id
            for chunk in in_chunks(ids):
                query = sa.select(child, parent_col).distinct().where(child.in_(chunk))
                if query_from is not None:
                    query = query.select_from(query_from)
                for c, p_id in conn.execute(query):
                    if int(p_id) != int(c):
                        parents.setdefault(int(c), set()).add(int(p_id))
    return parents
