"""Builds the configured object store: a local folder by default, an S3-compatible bucket when one is set."""

from __future__ import annotations

from nacento_pipeline.config import Settings
from nacento_pipeline.storage.base import ObjectStore
from nacento_pipeline.storage.local import LocalFolderStore
from nacento_pipeline.storage.s3 import S3ObjectStore


def make_object_store(settings: Settings) -> ObjectStore:
    """`LocalFolderStore(settings.bucket_dir)` when no S3 bucket is configured, else `S3ObjectStore`."""
    if settings.uses_local_bucket:
        return LocalFolderStore(settings.bucket_dir)
    assert settings.s3_bucket  # uses_local_bucket is False only when a bucket name is set
    return S3ObjectStore(
        settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        path_style=settings.s3_path_style,
        max_pool_connections=max(32, settings.head_concurrency * 2),
    )
