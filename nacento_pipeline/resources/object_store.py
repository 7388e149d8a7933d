"""The bucket the PIM writes to: S3/R2/MinIO through boto3, or a local folder for the embedded default."""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr

from nacento_pipeline.resources.wiring import make_object_store, make_queue
from nacento_pipeline.storage.adapters.base import ObjectStore
from nacento_pipeline.storage.adapters.event_queue import SqsEventQueue


class ObjectStoreResource(dg.ConfigurableResource):
    """Where images and batches live (NACENTO_S3_*, the media prefixes, the bucket's event queues).

    Credentials are not fields: boto3 reads them from the standard AWS chain (AWS_* variables, profile,
    instance role), as dagster-aws's `S3Resource` does when its key fields are left unset.
    """

    bucket: str | None = Field(default=None, description="The bucket (NACENTO_S3_BUCKET); unset: local_dir.")
    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (R2, MinIO).")
    region_name: str | None = Field(default=None, description="Region (NACENTO_S3_REGION, `auto` for R2).")
    path_style: bool = Field(description="Path-style addressing (MinIO).")
    local_dir: str = Field(description="The folder used as the bucket when no bucket is named.")
    media_prefix: str = Field(description="Where image keys live (object key = prefix + gallery value).")
    media_cache_prefix: str = Field(description="Where Magento's resized copies of the images live.")
    concurrency: int = Field(description="Parallel storage requests (NACENTO_HEAD_CONCURRENCY).")
    drop_events_queue_url: str | None = Field(
        default=None, description="SQS queue of the drop prefix's notifications; unset: LIST every tick."
    )
    drop_events_endpoint_url: str | None = Field(default=None, description="Its endpoint when not AWS's.")
    media_feed_queue_url: str | None = Field(
        default=None, description="SQS queue of the media prefix's notifications; unset: the feed is off."
    )
    media_feed_endpoint_url: str | None = Field(default=None, description="Its endpoint when not AWS's.")

    _store: ObjectStore | None = PrivateAttr(default=None)
    _queue: SqsEventQueue | None = PrivateAttr(default=None)
    _media_queue: SqsEventQueue | None = PrivateAttr(default=None)

    def get_store(self) -> ObjectStore:
        """The bucket, or the local folder (built once per resource instance)."""
        if self._store is None:
            self._store = make_object_store(
                bucket=self.bucket,
                endpoint_url=self.endpoint_url,
                region_name=self.region_name,
                path_style=self.path_style,
                concurrency=self.concurrency,
                local_dir=self.local_dir,
            )
        return self._store

    def get_event_queue(self) -> SqsEventQueue | None:
        """The queue of the bucket's event notifications, or None when the sensor scans by LIST only."""
        if self._queue is None:
            self._queue = make_queue(
                self.drop_events_queue_url, self.drop_events_endpoint_url, self.region_name
            )
        return self._queue

    def get_media_feed_queue(self) -> SqsEventQueue | None:
        """The queue of the media prefix's notifications, or None when the media change feed is off."""
        if self._media_queue is None:
            self._media_queue = make_queue(
                self.media_feed_queue_url, self.media_feed_endpoint_url, self.region_name
            )
        return self._media_queue
