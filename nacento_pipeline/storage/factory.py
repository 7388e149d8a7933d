"""Builds an object store from plain values: a local folder by default, an S3-compatible bucket when one is set.

`open_object_store` is the one place a store is built (`resources.wiring.make_object_store` maps the
settings onto it for the CLI, the benchmark and the Dagster resource), so the S3 connection pool always fits
the snapshot's concurrency."""

from __future__ import annotations

from pathlib import Path

from nacento_pipeline.storage.base import ObjectStore
from nacento_pipeline.storage.local import LocalFolderStore
from nacento_pipeline.storage.s3 import S3ObjectStore


def s3_pool_size(head_concurrency: int) -> int:
    """Connections the S3 client may keep: every snapshot thread gets one, plus headroom for the run's others."""
    return max(32, head_concurrency * 2)


def open_object_store(*, bucket: str | None, endpoint_url: str | None, region: str | None, path_style: bool,
                      local_dir: Path, head_concurrency: int) -> ObjectStore:
    """An `S3ObjectStore` when a bucket is named, else a `LocalFolderStore` on `local_dir` (created)."""
    if bucket:
        return S3ObjectStore(bucket, endpoint_url=endpoint_url, region=region, path_style=path_style,
                             max_pool_connections=s3_pool_size(head_concurrency))
    local_dir.mkdir(parents=True, exist_ok=True)
    return LocalFolderStore(local_dir.resolve())
