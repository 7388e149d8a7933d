"""Build the resources mapping from Settings; secrets stay EnvVar so Dagster never shows their values."""

from __future__ import annotations

from typing import Any

import dagster as dg

from nacento_pipeline.config import Settings
from nacento_pipeline.resources.cache import CacheResource
from nacento_pipeline.resources.io_manager import PathlessFilesystemIOManager
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.resources.reindex import ReindexResource


def resources_from_settings(settings: Settings) -> dict[str, Any]:
    db_url: Any = dg.EnvVar("NACENTO_MAGENTO_DB_URL") if settings.magento_db_url_from_env else settings.magento_url
    return {
        "object_store": ObjectStoreResource(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            path_style=settings.s3_path_style,
            local_dir=str(settings.bucket_dir),
            drop_prefix=settings.drop_prefix,
            archive_prefix=settings.archive_prefix,
            rejected_prefix=settings.rejected_prefix,
            media_prefix=settings.media_prefix,
            media_cache_prefix=settings.media_cache_prefix,
            head_concurrency=settings.head_concurrency,
            csv_list_separator=settings.csv_list_separator,
            drop_events=settings.drop_events,
            drop_events_queue_url=settings.drop_events_queue_url,
            drop_events_endpoint_url=settings.drop_events_endpoint_url,
            drop_events_reconcile_minutes=settings.drop_events_reconcile_minutes,
        ),
        "magento": MagentoDatabaseResource(
            url=db_url,
            table_prefix=settings.table_prefix,
            sync_mode=settings.sync_mode,
            chunk_size=settings.chunk_size,
            unknown_sku_severity=settings.unknown_sku_severity,
        ),
        "reindex": ReindexResource.from_settings(settings),
        "cache": CacheResource.from_settings(settings),
        "io_manager": PathlessFilesystemIOManager(),
    }
