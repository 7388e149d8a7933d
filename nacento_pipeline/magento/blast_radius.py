"""What the blast-radius guard reads from Magento before a write.

The touched products' gallery rows now and the catalog's size (products, products with a base image). One
statement per IN list, two aggregates.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.blast_radius import (
    CURRENT_COLUMNS,
    BlastLimits,
    BlastRadius,
    BlastTally,
    judge,
    tally,
)
from nacento_pipeline.core.delta.model import concat_deltas
from nacento_pipeline.core.frames import NO_SELECTION, empty_frame
from nacento_pipeline.core.preview import Preview, changed_skus, merge_previews, preview
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.gallery.plan import GalleryPlan, PlannedChunk
from nacento_pipeline.magento.gallery.reader import read_gallery


def chunk_links(chunks: Iterable[PlannedChunk], skus: set[str] | None = None) -> dict[int, int]:
    """Link id -> entity id of these chunks' usable products (of these SKUs only, when given)."""
    frames = [c.products for c in chunks if len(c.products)]
    if not frames:
        return {}
    products = pd.concat(frames, ignore_index=True)
    products = products[products["error"] == ""]
    if skus is not None:
        products = products[products["sku"].astype(str).isin(skus)]
    return dict(zip(products["link_id"].astype(int), products["entity_id"].astype(int), strict=True))


def catalog_counts(db: MagentoDatabase) -> tuple[int, int]:
    """(products, products with a base image at store 0) of the catalog."""
    t = db.tables
    vc = t.varchar
    image = db.attribute_ids().roles["image"]
    with db.engine.connect() as conn:
        products = int(
            conn.execute(sa.select(sa.func.count(sa.distinct(t.product.c.entity_id)))).scalar_one()
        )
        based = int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(vc)
                .where(
                    vc.c.attribute_id == image,
                    vc.c.store_id == 0,
                    vc.c.value.is_not(None),
                    vc.c.value != "",
                    vc.c.value != NO_SELECTION,
                )
            ).scalar_one()
        )
    return products, based


def current_gallery(db: MagentoDatabase, link_to_entity: dict[int, int]) -> pd.DataFrame:
    """The gallery rows of these products now (core.blast_radius.CURRENT_COLUMNS)."""
    if not link_to_entity:
        return empty_frame(CURRENT_COLUMNS)
    with db.engine.connect() as conn:
        rows = read_gallery(conn, db.tables, db.attribute_ids(), link_to_entity)
    frame = rows[list(CURRENT_COLUMNS)].copy()
    frame["disabled"] = pd.to_numeric(frame["disabled"]).fillna(0).astype(bool)
    return frame


def measure_plan(db: MagentoDatabase, plan: GalleryPlan, limits: BlastLimits) -> tuple[BlastRadius, Preview]:
    """The blast radius of writing `plan` to this database now, and the plan's preview.

    Measured a group of chunks at a time (a stored plan's part, core.blast_radius.tally): one group's delta
    and its products' galleries in memory at once, the counts summed and the first products kept.
    """
    products, based = catalog_counts(db)
    counted = BlastTally()
    shown: list[Preview] = []
    for chunks in plan.chunk_groups():
        delta = concat_deltas([c.delta for c in chunks])
        current = current_gallery(db, chunk_links(chunks))
        counted += tally(delta.items, delta.roles, current)
        shown = [merge_previews([*shown, preview(delta.items, delta.roles, current)])]
    radius = judge(counted, catalog_products=products, catalog_base_images=based, limits=limits)
    return radius, shown[0] if shown else preview(plan.items, plan.roles, empty_frame(CURRENT_COLUMNS))


def preview_plan(db: MagentoDatabase, plan: GalleryPlan) -> Preview:
    """The plan's preview, reading the galleries of the previewed products only (a group at a time)."""
    shown: list[Preview] = []
    for chunks in plan.chunk_groups():
        delta = concat_deltas([c.delta for c in chunks])
        skus = set(changed_skus(delta.items, delta.roles))
        current = current_gallery(db, chunk_links(chunks, skus))
        shown = [merge_previews([*shown, preview(delta.items, delta.roles, current)])]
    return shown[0] if shown else preview(plan.items, plan.roles, empty_frame(CURRENT_COLUMNS))
