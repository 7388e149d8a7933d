"""Settings -> resources: the one place that maps the parsed NACENTO_* values onto the resources' fields.

`build_definitions` gets its resources here, and the CLI, the bench scripts and the tests build the same
resources from a `Settings` (e.g. `object_store_resource(settings).get_store()`). A secret that came from the
environment is passed as `dg.EnvVar` (read by Dagster at run time, never shown in the UI or a run's config).
"""

from __future__ import annotations

from typing import Any, TypeVar

import dagster as dg

from nacento_pipeline.config import VARIABLES, Settings
from nacento_pipeline.resources.cache import CacheResource
from nacento_pipeline.resources.drop_zone import DropZoneResource
from nacento_pipeline.resources.io_manager import PathlessFilesystemIOManager
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.resources.reindex import ReindexResource

_ENV_NAMES = {var.attr: var.name for var in VARIABLES}
T = TypeVar("T", str, str | None)


def secret(settings: Settings, attr: str, value: T) -> T:
    """`value` of the secret setting `attr`, as `EnvVar` of its variable when the environment set it."""
    return dg.EnvVar(_ENV_NAMES[attr]) if attr in settings.env_sourced else value


def object_store_resource(settings: Settings) -> ObjectStoreResource:
    """The bucket (or local folder), its media layout and queues; the drop queue only in event mode."""
    events = settings.drop_events != "off"
    return ObjectStoreResource(
        bucket=settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        path_style=settings.s3_path_style,
        local_dir=str(settings.bucket_dir),
        media_prefix=settings.media_prefix,
        media_cache_prefix=settings.media_cache_prefix,
        concurrency=settings.head_concurrency,
        drop_events_queue_url=settings.drop_events_queue_url if events else None,
        drop_events_endpoint_url=settings.drop_events_endpoint_url,
        media_feed_queue_url=settings.media_feed_queue_url,
        media_feed_endpoint_url=settings.media_feed_endpoint_url,
    )


def drop_zone_resource(settings: Settings) -> DropZoneResource:
    """The drop, archive and rejected prefixes and the input caps the sensor and `pim_batch` share."""
    return DropZoneResource(
        drop_prefix=settings.drop_prefix,
        archive_prefix=settings.archive_prefix,
        rejected_prefix=settings.rejected_prefix,
        max_bunch_file_mb=settings.max_bunch_file_mb,
        max_ok_file_kb=settings.max_ok_file_kb,
        max_invalid_names_per_tick=settings.max_invalid_names_per_tick,
        max_field_chars=settings.max_field_chars,
        max_batch_images=settings.max_batch_images,
        events_reconcile_minutes=settings.drop_events_reconcile_minutes,
        step_processes_above_mb=settings.step_processes_above_mb,
    )


def magento_resource(settings: Settings, create_own_tables: bool = True) -> MagentoDatabaseResource:
    """Magento's database: the URL (EnvVar from the environment; else the embedded SQLite file's)."""
    return MagentoDatabaseResource(
        url=secret(settings, "magento_db_url", settings.magento_url),
        table_prefix=settings.table_prefix,
        connect_timeout_seconds=settings.db_connect_timeout_seconds,
        read_timeout_seconds=settings.db_read_timeout_seconds,
        write_timeout_seconds=settings.db_write_timeout_seconds,
        lock_wait_timeout_seconds=settings.db_lock_wait_timeout_seconds,
        chunk_size=settings.chunk_size,
        journal_retention_days=settings.journal_retention_days,
        create_own_tables=create_own_tables,
    )


def reindex_resource(settings: Settings) -> ReindexResource:
    """The reindex decision's indexers, purposes and thresholds, and the trigger with its command."""
    return ReindexResource(
        trigger_kind=settings.reindex_trigger,
        command=settings.reindex_command,
        partial_command=settings.reindex_partial_command,
        timeout_seconds=settings.reindex_timeout_seconds,
        command_env=list(settings.command_env),
        indexers=list(settings.indexers),
        indexer_views=dict(settings.indexer_views),
        purposes=list(settings.reindex_purposes),
        default_threshold=settings.default_threshold,
        thresholds=dict(settings.thresholds),
    )


def cache_resource(settings: Settings) -> CacheResource:
    """The storefront cache backend and its options (Redis URLs as EnvVar from the environment)."""
    return CacheResource(
        backend=settings.cache_backend,
        hosts=list(settings.cache_hosts),
        redis_url=secret(settings, "cache_redis_url", settings.cache_redis_url),
        redis_prefix=settings.cache_redis_prefix,
        redis_default_url=secret(settings, "cache_redis_default_url", settings.cache_redis_default_url),
        redis_default_prefix=settings.cache_redis_default_prefix,
        command=settings.cache_command,
        images_command=settings.cache_images_command,
        command_env=list(settings.command_env),
        retries=settings.cache_retries,
        timeout_seconds=settings.cache_timeout_seconds,
        purge_image_cache=settings.purge_image_cache,
    )


def build_resources(settings: Settings) -> dict[str, Any]:
    """Every resource the definitions use, by key, from one Settings."""
    return {
        "object_store": object_store_resource(settings),
        "drop_zone": drop_zone_resource(settings),
        "magento": magento_resource(settings),
        "reindex": reindex_resource(settings),
        "cache": cache_resource(settings),
        "io_manager": PathlessFilesystemIOManager(),
    }
