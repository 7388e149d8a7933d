"""Dagster assets: the partitioned batch assets and the daily gallery audit."""

import dagster as dg

from nacento_pipeline.defs.assets.audit_asset import gallery_audit
from nacento_pipeline.defs.assets.batch_assets import gallery_delta, image_etags, magento_gallery, pim_batch
from nacento_pipeline.defs.assets.reindex_asset import reindex_decision
from nacento_pipeline.defs.assets.storefront_cache_asset import storefront_cache
from nacento_pipeline.defs.constants import BATCH_GROUP, OWNERS, REJECTIONS_ASSET

BATCH_ASSETS = [pim_batch, image_etags, gallery_delta, magento_gallery, reindex_decision, storefront_cache]
AUDIT_ASSETS = [gallery_audit]

# Drops the sensor rejected (moved aside with REPORT.md): no run makes this asset; the sensor reports one
# event per rejection, so rejections have a page, a history and a count in the UI like a batch does.
pim_drop_rejections = dg.AssetSpec(
    REJECTIONS_ASSET,
    group_name=BATCH_GROUP,
    owners=OWNERS,
    kinds={"s3"},
    description=(
        "Drops the pim_drop_sensor rejected (bad names, missing or unreadable bunch files). Each event names "
        "the drop and the reason and links to the REPORT.md next to the moved-aside files."
    ),
)
DROP_ASSETS = [pim_drop_rejections]
