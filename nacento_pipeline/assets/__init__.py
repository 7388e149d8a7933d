"""Dagster assets: the partitioned batch assets and the daily gallery audit."""

from nacento_pipeline.assets.audit_asset import gallery_audit
from nacento_pipeline.assets.batch_assets import gallery_delta, image_etags, magento_gallery, pim_batch
from nacento_pipeline.assets.reindex_asset import reindex_decision
from nacento_pipeline.assets.storefront_cache_asset import storefront_cache

BATCH_ASSETS = [pim_batch, image_etags, gallery_delta, magento_gallery, reindex_decision, storefront_cache]
AUDIT_ASSETS = [gallery_audit]
