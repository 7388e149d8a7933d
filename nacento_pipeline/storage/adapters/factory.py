"""Builds an object store from plain values: a local folder by default, an S3-compatible bucket when set.

`open_object_store` is the one place a store is built (`resources.wiring.make_object_store` maps the
settings onto it, with a boto3 client from dagster-aws's S3Resource, for the CLI, the benchmark and the
Dagster resource).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nacento_pipeline.storage.adapters.base import ObjectStore
from nacento_pipeline.storage.adapters.local import LocalFolderStore
from nacento_pipeline.storage.adapters.s3 import S3ObjectStore


def s3_pool_size(head_concurrency: int) -> int:
    """Connections the S3 client may keep: one per snapshot thread, plus headroom for the run's others."""
    return max(32, head_concurrency * 2)


def open_object_store(
    *, bucket: str | None, endpoint_url: str | None, client: Any, local_dir: Path
) -> ObjectStore:
    """An `S3ObjectStore` on `client` when a bucket is named, else a `LocalFolderStore` on `local_dir`.

    The local folder is created when missing.
    """
    if bucket:
        return S3ObjectStore(bucket, endpoint_url=endpoint_url, client=client)
    local_dir.mkdir(parents=True, exist_ok=True)
    return LocalFolderStore(local_dir.resolve())
