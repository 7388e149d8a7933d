"""Settings -> adapters: the one place that reads a `Settings` and hands adapters plain values.

Adapters (`storage/`, `magento/`, `cache/`) take urls, prefixes, timeouts and lists, never the settings
object; the CLI, the Dagster resources and the tests all build them through these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.cache import (
    CacheBackend,
    CacheError,
    CommandCache,
    NoCache,
    RedisCache,
    RedisTarget,
    VarnishCache,
    VarnishHost,
)
from nacento_pipeline.config import Settings, command_environment
from nacento_pipeline.core.reindex.decision import DEFAULT_PURPOSES, ReindexDecision, build_purposes
from nacento_pipeline.magento.database import DatabaseTimeouts, MagentoDatabase
from nacento_pipeline.magento.freshness import pending_indexers
from nacento_pipeline.magento.indexers import decide_from_database
from nacento_pipeline.magento.reindex_trigger import ReindexTrigger, trigger_for
from nacento_pipeline.resources.s3_client import S3ClientResource
from nacento_pipeline.storage.adapters.base import ObjectStore
from nacento_pipeline.storage.adapters.event_queue import SqsEventQueue
from nacento_pipeline.storage.adapters.factory import open_object_store, s3_pool_size

# --- Object store -------------------------------------------------------------------------------------------


def s3_client_resource(settings: Settings) -> S3ClientResource:
    """dagster-aws's S3Resource for NACENTO_S3_*; the pool follows NACENTO_HEAD_CONCURRENCY."""
    return S3ClientResource(
        region_name=settings.s3_region,
        endpoint_url=settings.s3_endpoint_url,
        path_style=settings.s3_path_style,
        max_pool_connections=s3_pool_size(settings.head_concurrency),
    )


def make_object_store(settings: Settings) -> ObjectStore:
    """The bucket NACENTO_S3_* name (its client from `s3_client_resource`), else the local folder."""
    client = s3_client_resource(settings).get_client() if settings.s3_bucket else None
    return open_object_store(
        bucket=settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        client=client,
        local_dir=settings.bucket_dir,
    )


def make_event_queue(settings: Settings) -> SqsEventQueue | None:
    """The queue of the bucket's event notifications, or None when the drop sensor scans by LIST only."""
    if settings.drop_events == "off" or not settings.drop_events_queue_url:
        return None
    return SqsEventQueue(
        settings.drop_events_queue_url,
        endpoint_url=settings.drop_events_endpoint_url,
        region=settings.s3_region,
    )


def make_media_feed_queue(settings: Settings) -> SqsEventQueue | None:
    """The queue of the media prefix's event notifications, or None when the media change feed is off."""
    if not settings.media_feed_queue_url:
        return None
    return SqsEventQueue(
        settings.media_feed_queue_url,
        endpoint_url=settings.media_feed_endpoint_url,
        region=settings.s3_region,
    )


# --- Magento ------------------------------------------------------------------------------------------------


def make_database(settings: Settings, create_own_tables: bool = True) -> MagentoDatabase:
    timeouts = DatabaseTimeouts(
        connect=settings.db_connect_timeout_seconds,
        read=settings.db_read_timeout_seconds,
        write=settings.db_write_timeout_seconds,
        lock_wait=settings.db_lock_wait_timeout_seconds,
    )
    db = MagentoDatabase(settings.magento_url, prefix=settings.table_prefix, timeouts=timeouts)
    if create_own_tables:
        db.ensure_own_tables()
    return db


def make_trigger(settings: Settings, engine: sa.Engine | None, prefix: str | None = None) -> ReindexTrigger:
    """The trigger NACENTO_REINDEX_TRIGGER names, with the command settings it needs."""
    return trigger_for(
        settings.reindex_trigger,
        engine,
        settings.table_prefix if prefix is None else prefix,
        command=settings.reindex_command,
        partial_command=settings.reindex_partial_command,
        timeout_seconds=settings.reindex_timeout_seconds,
        env=command_environment(
            f"{settings.reindex_command} {settings.reindex_partial_command or ''}", settings.command_env
        ),
    )


def reindex_decisions(
    settings: Settings, engine: sa.Engine, changed_entity_ids: Iterable[int]
) -> list[ReindexDecision]:
    """The managed indexers' decisions for these changed products (NACENTO_INDEXERS, _PURPOSES, _THRESHOLD*)."""
    purposes = build_purposes(settings.reindex_purposes) if settings.reindex_purposes else DEFAULT_PURPOSES
    return decide_from_database(
        engine,
        settings.table_prefix,
        settings.indexers,
        settings.indexer_views,
        changed_entity_ids,
        settings.threshold_for,
        purposes=purposes,
        default_threshold=settings.default_threshold,
    )


def pending_indexers_for(
    settings: Settings, engine: sa.Engine, changed_entity_ids: Iterable[int]
) -> pd.DataFrame:
    """Which managed indexers do not show these products yet (see magento.freshness)."""
    return pending_indexers(
        engine, settings.table_prefix, settings.indexers, settings.indexer_views, changed_entity_ids
    )


# --- Storefront cache ---------------------------------------------------------------------------------------


def _varnish(s: Settings) -> CacheBackend:
    return VarnishCache([VarnishHost.parse(h) for h in s.cache_hosts], timeout=float(s.cache_timeout_seconds))


def _redis(s: Settings) -> CacheBackend:
    timeout = float(s.cache_timeout_seconds)
    default = (
        RedisTarget(s.cache_redis_default_url, s.cache_redis_default_prefix, timeout)
        if s.cache_redis_default_url
        else None
    )
    return RedisCache(RedisTarget(s.cache_redis_url, s.cache_redis_prefix, timeout), default)


def _command(s: Settings) -> CacheBackend:
    templates = f"{s.cache_command} {s.cache_images_command or ''}"
    return CommandCache(
        s.cache_command,
        s.cache_images_command,
        timeout=float(s.cache_timeout_seconds) * 60,
        env=command_environment(templates, s.command_env),
    )


# One entry per NACENTO_CACHE_BACKEND value (config.CACHE_BACKENDS lists the accepted names)
CACHE_BACKEND_BUILDERS: dict[str, Callable[[Settings], CacheBackend]] = {
    "none": lambda s: NoCache(),
    "varnish": _varnish,
    "redis": _redis,
    "command": _command,
}


def make_backend(settings: Settings) -> CacheBackend:
    """The backend NACENTO_CACHE_BACKEND names, configured from the other NACENTO_CACHE_* settings."""
    try:
        build = CACHE_BACKEND_BUILDERS[settings.cache_backend]
    except KeyError:
        raise CacheError(
            f"NACENTO_CACHE_BACKEND={settings.cache_backend!r}: "
            f"expected one of {sorted(CACHE_BACKEND_BUILDERS)}"
        ) from None
    return build(settings)
