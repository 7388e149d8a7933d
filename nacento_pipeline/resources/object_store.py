"""The bucket the PIM writes to: S3/R2/MinIO through boto3, or a local folder for the embedded default."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from nacento_pipeline.storage.base import ObjectStore
from nacento_pipeline.storage.event_queue import SqsEventQueue
from nacento_pipeline.storage.factory import open_object_store


class ObjectStoreResource(dg.ConfigurableResource):
    """Where images and batches live. Credentials come from the standard AWS_* chain, never from here."""

    bucket: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool = False
    local_dir: str = "var/bucket"
    drop_prefix: str = "pim-drop/"
    archive_prefix: str = "pim-archive/"
    rejected_prefix: str = "pim-rejected/"
    media_prefix: str = "media/catalog/product/"
    media_cache_prefix: str = "media/catalog/product/cache/"
    head_concurrency: int = 16
    csv_list_separator: str = ","  # inside native-CSV cells (additional_images, ...)
    drop_events: str = "off"  # "sqs": the drop sensor reads event notifications (see event_registration)
    drop_events_queue_url: str | None = None
    drop_events_endpoint_url: str | None = None
    drop_events_reconcile_minutes: int = 15

    _store: ObjectStore | None = PrivateAttr(default=None)
    _queue: SqsEventQueue | None = PrivateAttr(default=None)

    def get_store(self) -> ObjectStore:
        if self._store is None:
            self._store = open_object_store(
                bucket=self.bucket, endpoint_url=self.endpoint_url, region=self.region, path_style=self.path_style,
                local_dir=Path(self.local_dir), head_concurrency=self.head_concurrency,
            )
        return self._store

    def get_event_queue(self) -> SqsEventQueue | None:
        """The queue of the bucket's event notifications, or None when the sensor scans by LIST only."""
        if self.drop_events == "off" or not self.drop_events_queue_url:
            return None
        if self._queue is None:
            self._queue = SqsEventQueue(self.drop_events_queue_url, endpoint_url=self.drop_events_endpoint_url,
                                        region=self.region)
        return self._queue
