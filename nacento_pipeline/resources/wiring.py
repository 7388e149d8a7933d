"""Typed fields -> adapters: the resources' helpers that build stores, queues, databases, triggers and caches.

Adapters (`storage/`, `magento/`, `cache/`) take urls, prefixes, timeouts and lists; these functions take the
resources' own fields (never the settings object) and hand the adapters plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import dagster as dg
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
from nacento_pipeline.config import command_environment
from nacento_pipeline.core.reindex.decision import DEFAULT_PURPOSES, ReindexDecision, build_purposes
from nacento_pipeline.magento.database import DatabaseTimeouts, MagentoDatabase
from nacento_pipeline.magento.freshness import pending_indexers
from nacento_pipeline.magento.indexers import decide_from_database
from nacento_pipeline.magento.reindex_trigger import ReindexTrigger, trigger_for
from nacento_pipeline.resources.s3_client import S3ClientResource
from nacento_pipeline.storage.adapters.base import ObjectStore
from nacento_pipeline.storage.adapters.event_queue import SqsEventQueue
from nacento_pipeline.storage.adapters.factory import open_object_store, s3_pool_size

T = TypeVar("T")


def resolved(value: T) -> T:
    """A field's value used outside a run: an `EnvVar` read now (inside a run Dagster has read it already)."""
    return value.get_value() if isinstance(value, dg.EnvVar) else value  # type: ignore[return-value]


# --- Object store -------------------------------------------------------------------------------------------


def s3_client_resource(
    *, region_name: str | None, endpoint_url: str | None, path_style: bool, concurrency: int
) -> S3ClientResource:
    """dagster-aws's S3Resource for the bucket; the pool follows the storage concurrency."""
    return S3ClientResource(
        region_name=region_name,
        endpoint_url=endpoint_url,
        path_style=path_style,
        max_pool_connections=s3_pool_size(concurrency),
    )


def make_object_store(
    *,
    bucket: str | None,
    endpoint_url: str | None,
    region_name: str | None,
    path_style: bool,
    concurrency: int,
    local_dir: str | Path,
) -> ObjectStore:
    """The bucket (its client from `s3_client_resource`) when one is named, else the local folder."""
    client = (
        s3_client_resource(
            region_name=region_name, endpoint_url=endpoint_url, path_style=path_style, concurrency=concurrency
        ).get_client()
        if bucket
        else None
    )
    return open_object_store(
        bucket=bucket, endpoint_url=endpoint_url, client=client, local_dir=Path(local_dir)
    )


def make_queue(
    queue_url: str | None, endpoint_url: str | None, region_name: str | None
) -> SqsEventQueue | None:
    """The SQS queue of a prefix's event notifications, or None when no queue is configured."""
    if not queue_url:
        return None
    return SqsEventQueue(queue_url, endpoint_url=endpoint_url, region=region_name)


# --- Magento ------------------------------------------------------------------------------------------------


def make_database(
    url: str,
    *,
    prefix: str,
    connect_timeout: int,
    read_timeout: int,
    write_timeout: int,
    lock_wait_timeout: int,
    create_own_tables: bool = True,
) -> MagentoDatabase:
    """Magento's database with the session timeouts; its own tables created unless told not to."""
    timeouts = DatabaseTimeouts(
        connect=connect_timeout, read=read_timeout, write=write_timeout, lock_wait=lock_wait_timeout
    )
    db = MagentoDatabase(url, prefix=prefix, timeouts=timeouts)
    if create_own_tables:
        db.ensure_own_tables()
    return db


def make_trigger(
    kind: str,
    engine: sa.Engine | None,
    prefix: str,
    *,
    command: str,
    partial_command: str | None,
    timeout_seconds: int,
    command_env: Sequence[str],
) -> ReindexTrigger:
    """The trigger `kind` names (NACENTO_REINDEX_TRIGGER), with the command settings it needs."""
    return trigger_for(
        kind,
        engine,
        prefix,
        command=command,
        partial_command=partial_command,
        timeout_seconds=timeout_seconds,
        env=command_environment(f"{command} {partial_command or ''}", tuple(command_env)),
    )


def reindex_decisions(
    engine: sa.Engine,
    prefix: str,
    changed_entity_ids: Iterable[int],
    *,
    indexers: Sequence[str],
    indexer_views: Mapping[str, str],
    purposes: Sequence[str],
    default_threshold: float,
    thresholds: Mapping[str, float],
) -> list[ReindexDecision]:
    """The managed indexers' decisions for these changed products (NACENTO_INDEXERS, _PURPOSES, ...)."""
    return decide_from_database(
        engine,
        prefix,
        tuple(indexers),
        indexer_views,
        changed_entity_ids,
        thresholds,  # an indexer it does not name gets default_threshold
        purposes=build_purposes(tuple(purposes)) if purposes else DEFAULT_PURPOSES,
        default_threshold=default_threshold,
    )


def pending_indexers_for(
    engine: sa.Engine,
    prefix: str,
    indexers: Sequence[str],
    indexer_views: Mapping[str, str],
    changed_entity_ids: Iterable[int],
) -> pd.DataFrame:
    """Which managed indexers do not show these products yet (see magento.freshness)."""
    return pending_indexers(engine, prefix, tuple(indexers), indexer_views, changed_entity_ids)


# --- Storefront cache ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheOptions:
    """What the cache backends are built from (the cache resource's fields, secrets read)."""

    hosts: Sequence[str]
    redis_url: str
    redis_prefix: str
    redis_default_url: str | None
    redis_default_prefix: str
    command: str
    images_command: str | None
    command_env: Sequence[str]
    timeout_seconds: int


def _varnish(o: CacheOptions) -> CacheBackend:
    return VarnishCache([VarnishHost.parse(h) for h in o.hosts], timeout=float(o.timeout_seconds))


def _redis(o: CacheOptions) -> CacheBackend:
    timeout = float(o.timeout_seconds)
    default = (
        RedisTarget(o.redis_default_url, o.redis_default_prefix, timeout) if o.redis_default_url else None
    )
    return RedisCache(RedisTarget(o.redis_url, o.redis_prefix, timeout), default)


def _command(o: CacheOptions) -> CacheBackend:
    templates = f"{o.command} {o.images_command or ''}"
    return CommandCache(
        o.command,
        o.images_command,
        timeout=float(o.timeout_seconds) * 60,
        env=command_environment(templates, tuple(o.command_env)),
    )


# One entry per NACENTO_CACHE_BACKEND value (config.CACHE_BACKENDS lists the accepted names)
CACHE_BACKEND_BUILDERS: dict[str, Callable[[CacheOptions], CacheBackend]] = {
    "none": lambda o: NoCache(),
    "varnish": _varnish,
    "redis": _redis,
    "command": _command,
}


def make_backend(backend: str, options: CacheOptions) -> CacheBackend:
    """The backend NACENTO_CACHE_BACKEND names, configured from the other NACENTO_CACHE_* values."""
    try:
        build = CACHE_BACKEND_BUILDERS[backend]
    except KeyError:
        raise CacheError(
            f"NACENTO_CACHE_BACKEND={backend!r}: expected one of {sorted(CACHE_BACKEND_BUILDERS)}"
        ) from None
    return build(options)
