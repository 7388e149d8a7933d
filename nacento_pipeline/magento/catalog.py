"""Product lookup by SKU in bulk: exact matches after trimming, with case/whitespace near-misses reported.

`catalog_product_entity.sku` is indexed but not unique: a SKU matching several products is an error for
that SKU rather than a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.chunks import T, chunked
from nacento_pipeline.core.delta.model import PRODUCT_COLUMNS
from nacento_pipeline.core.frames import REJECTION_COLUMNS, empty_frame
from nacento_pipeline.magento.schema import MagentoTables
from nacento_pipeline.magento.staging import current_version

# Bound-parameter lists stay well below SQLite's 32766 variables per statement.
IN_LIST_SIZE = 5000


def in_chunks(values: Iterable[T], size: int = IN_LIST_SIZE) -> Iterator[list[T]]:
    """Slices for IN lists (a chunk of SKUs normally fits in one)."""
    return chunked(values, size)


@dataclass(frozen=True)
class ProductLookup:
    """products: PRODUCT_COLUMNS (only SKUs found or near-missed); warnings: REJECTION_COLUMNS."""

    products: pd.DataFrame
    warnings: pd.DataFrame


def _product_select(conn: sa.Connection, tables: MagentoTables) -> sa.Select:
    """sku, entity_id, link_id of the products; on content-staging schemas only their live version.

    The live version is the row whose [created_in, updated_in) holds the version Magento's staging serves
    (magento.staging: the staging flag's current version, else the current time; the default version runs from
    1 to 2147483647).
    """
    p = tables.product
    query = sa.select(p.c.sku, p.c.entity_id, p.c[tables.link].label("link_id"))
    if "created_in" in p.c:
        version = current_version(conn, tables)
        query = query.where(p.c.created_in <= version, p.c.updated_in > version)
    return query


def _current_versions(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (sku, entity_id): the live version (the query filters it), the newest row_id on a tie."""
    return rows.sort_values("link_id").drop_duplicates(["sku", "entity_id"], keep="last")


def read_products(conn: sa.Connection, tables: MagentoTables, skus: Iterable[str]) -> ProductLookup:
    """Products of `skus` (batch SKUs, already trimmed): a statement per IN list, plus one for near-misses."""
    wanted = list(dict.fromkeys(str(s).strip() for s in skus))
    columns = ["sku", "entity_id", "link_id"]
    found_parts = []
    p = tables.product
    select = _product_select(conn, tables)  # one staging-version read for every statement below
    for part in in_chunks(wanted):
        found_parts.append(
            pd.DataFrame([tuple(r) for r in conn.execute(select.where(p.c.sku.in_(part)))], columns=columns)
        )
    found = pd.concat(found_parts, ignore_index=True) if found_parts else pd.DataFrame(columns=columns)
    found = _current_versions(found.astype({"sku": str})) if len(found) else found
    # MySQL's *_ci collations match case/trailing-space variants through the same IN: split them off here.
    # `wanted` is unique: one index lookup per row (isin on pyarrow text converts each wanted SKU one by one)
    is_wanted = pd.Index(wanted).get_indexer(found["sku"]) >= 0
    exact = found[is_wanted]
    loose = found[~is_wanted]
    exact_skus = set(exact["sku"])
    missing = [s for s in wanted if s not in exact_skus]
    if missing:
        folded = list({s.casefold() for s in missing})
        extra = []
        for part in in_chunks(folded):
            query = select.where(sa.func.lower(sa.func.trim(p.c.sku)).in_(part))
            extra.append(pd.DataFrame([tuple(r) for r in conn.execute(query)], columns=columns))
        loose = pd.concat([loose, *extra], ignore_index=True).drop_duplicates(["sku", "entity_id", "link_id"])
    rows: list[dict] = []
    warnings = []
    distinct = exact.groupby("sku")["entity_id"].nunique()
    ambiguous = set(distinct[distinct > 1].index)
    unique = exact[~exact["sku"].isin(ambiguous)].drop_duplicates("sku", keep="last")
    usable = pd.DataFrame(
        {"sku": unique["sku"], "entity_id": unique["entity_id"], "link_id": unique["link_id"], "error": ""}
    )
    for sku in sorted(ambiguous):
        ids = sorted(set(exact.loc[exact["sku"] == sku, "entity_id"].astype(int)))
        rows.append(
            {
                "sku": sku,
                "entity_id": 0,
                "link_id": 0,
                "error": f"ambiguous SKU {sku!r}: products {ids} carry it (sku is not unique)",
            }
        )
    if missing and len(loose):
        loose = loose.assign(key=loose["sku"].astype(str).str.strip().str.casefold())
        near = {key: group for key, group in loose.groupby("key")}
        for sku in missing:
            group = near.get(sku.casefold())
            if group is None:
                continue
            described = ", ".join(
                f"{s!r} (entity_id {int(e)})" for s, e in zip(group["sku"], group["entity_id"], strict=True)
            )
            message = f"unknown SKU {sku!r}; near miss {described}: SKUs must match exactly after trimming"
            rows.append({"sku": sku, "entity_id": 0, "link_id": 0, "error": message})
            warnings.append(
                {
                    "severity": "warning",
                    "file": "",
                    "line": 0,
                    "sku": sku,
                    "field": "sku",
                    "value": sku[:200],
                    "reason": message,
                }
            )
    products = pd.concat([usable, pd.DataFrame(rows, columns=list(PRODUCT_COLUMNS))], ignore_index=True)
    products = products[list(PRODUCT_COLUMNS)].astype({"entity_id": "int64", "link_id": "int64"})
    return ProductLookup(
        products=products,
        warnings=pd.DataFrame(warnings, columns=list(REJECTION_COLUMNS))
        if warnings
        else empty_frame(REJECTION_COLUMNS),
    )


def live_link_ids(conn: sa.Connection, tables: MagentoTables, entity_ids: Iterable[int]) -> dict[int, int]:
    """entity_id -> the link id its gallery, value and attribute rows carry (`tables.link`).

    That is the entity id itself, or on content-staging schemas the row_id of the live version (as
    `read_products` picks it). The one mapping the checks after a write and the audit use before selecting
    rows by link column; entity ids with no live version are left out.
    """
    ids = sorted({int(i) for i in entity_ids})
    if tables.link == "entity_id":
        return {i: i for i in ids}
    columns = ["sku", "entity_id", "link_id"]
    entity = tables.product.c.entity_id
    select = _product_select(conn, tables)
    parts = [
        pd.DataFrame([tuple(r) for r in conn.execute(select.where(entity.in_(part)))], columns=columns)
        for part in in_chunks(ids)
    ]
    found = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    if found.empty:
        return {}
    live = _current_versions(found.astype({"sku": str, "entity_id": "int64", "link_id": "int64"}))
    live = live.drop_duplicates("entity_id", keep="last")  # one link per entity (sorted by link_id already)
    return dict(zip(live["entity_id"].tolist(), live["link_id"].tolist(), strict=True))
