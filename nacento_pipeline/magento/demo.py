"""A minimal Magento 2.4.8 schema for demos and tests: the gallery tables, EAV seeds, store 0, products.

Attribute ids are deliberately non-trivial and non-consecutive so nothing can hard-code them.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from nacento_pipeline.magento.indexers import create_indexer_tables
from nacento_pipeline.magento.product_relations import create_relation_tables
from nacento_pipeline.magento.schema import build_tables

PRODUCT_ENTITY_TYPE_ID = 4
DEMO_ATTRIBUTE_IDS = {
    "media_gallery": 90,
    "image": 87,
    "small_image": 113,
    "thumbnail": 106,
    "swatch_image": 139,
    "image_label": 112,
    "small_image_label": 114,
    "thumbnail_label": 107,
    "name": 73,
}
_FRONTEND_INPUT = {
    "media_gallery": "gallery",
    "image_label": "text",
    "small_image_label": "text",
    "thumbnail_label": "text",
    "name": "text",
}
# Two websites' store views besides the admin store 0, as a multi-language shop has them.
DEMO_STORES = (
    {"store_id": 1, "code": "default", "name": "Default Store View", "website_id": 1, "group_id": 1},
    {"store_id": 2, "code": "de", "name": "German", "website_id": 1, "group_id": 1},
    {"store_id": 3, "code": "fr", "name": "French", "website_id": 1, "group_id": 1},
)


def create_demo_schema(engine: sa.Engine, prefix: str = "", *, link: str = "entity_id") -> None:
    """Create Magento's tables, ours and the indexer tables, and seed EAV rows and store 0 (idempotent)."""
    tables = build_tables(prefix, link=link, dialect_name=engine.dialect.name)
    tables.metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(tables.store)).scalar() == 0:
            if engine.dialect.name in ("mysql", "mariadb"):
                # Magento installs with NO_AUTO_VALUE_ON_ZERO so that store_id 0 (admin) can be inserted.
                conn.execute(
                    sa.text("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
                )
            conn.execute(
                tables.store.insert(), [{"store_id": 0, "code": "admin", "name": "Admin", "is_active": 1}]
            )
            conn.execute(tables.store.insert(), [{**row, "is_active": 1} for row in DEMO_STORES])
        if conn.execute(sa.select(sa.func.count()).select_from(tables.website)).scalar() == 0:
            if engine.dialect.name in ("mysql", "mariadb"):
                conn.execute(
                    sa.text("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
                )
            conn.execute(
                tables.website.insert(),
                [
                    {"website_id": 0, "code": "admin", "name": "Admin"},
                    {"website_id": 1, "code": "base", "name": "Main Website"},
                ],
            )
        if conn.execute(sa.select(sa.func.count()).select_from(tables.entity_type)).scalar() == 0:
            conn.execute(
                tables.entity_type.insert(),
                [
                    {
                        "entity_type_id": PRODUCT_ENTITY_TYPE_ID,
                        "entity_type_code": "catalog_product",
                        "entity_model": "Magento\\Catalog\\Model\\ResourceModel\\Product",
                        "entity_table": "catalog_product_entity",
                    }
                ],
            )
        if conn.execute(sa.select(sa.func.count()).select_from(tables.attribute)).scalar() == 0:
            conn.execute(
                tables.attribute.insert(),
                [
                    {
                        "attribute_id": aid,
                        "entity_type_id": PRODUCT_ENTITY_TYPE_ID,
                        "attribute_code": code,
                        "backend_type": "static" if code == "media_gallery" else "varchar",
                        "frontend_input": _FRONTEND_INPUT.get(code, "media_image"),
                        "frontend_label": code,
                    }
                    for code, aid in DEMO_ATTRIBUTE_IDS.items()
                ],
            )
    # Magento-style changelog triggers on the subscribed tables, so role writes reach the changelogs as in a
    # real store and the reindex trigger must not duplicate them (row_id schemas: the triggers look the
    # entity_id up by row_id, as Adobe Commerce's do).
    create_indexer_tables(engine, prefix, with_triggers=True)
    create_relation_tables(engine, prefix)  # parents of configurable/grouped/bundle products (cache tags)


def seed_demo_products(engine: sa.Engine, skus: Iterable[str], prefix: str = "") -> dict[str, int]:
    """Bulk-insert simple products (skipping SKUs already present); returns sku -> entity_id."""
    from nacento_pipeline.magento.schema import detect_link_column

    tables = build_tables(prefix, link=detect_link_column(engine, prefix), dialect_name=engine.dialect.name)
    product = tables.product
    wanted = list(dict.fromkeys(skus))
    with engine.begin() as conn:
        existing = {sku for (sku,) in conn.execute(sa.select(product.c.sku))}
        new = [s for s in wanted if s not in existing]
        if new:
            if tables.link == "row_id":
                start = int(
                    conn.execute(
                        sa.select(sa.func.coalesce(sa.func.max(product.c.entity_id), 0))
                    ).scalar_one()
                )
                rows = [
                    {"sku": s, "entity_id": start + i + 1, "attribute_set_id": 4} for i, s in enumerate(new)
                ]
            else:
                rows = [{"sku": s, "attribute_set_id": 4} for s in new]
            conn.execute(product.insert(), rows)
        found = {sku: int(eid) for sku, eid in conn.execute(sa.select(product.c.sku, product.c.entity_id))}
    return {sku: found[sku] for sku in wanted if sku in found}
