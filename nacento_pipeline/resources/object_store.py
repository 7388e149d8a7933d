"""The bucket the PIM writes to: S3/R2/MinIO through boto3, or a local folder for the embedded default."""

from __future__ import annotations

from pydantic import PrivateAttr

from nacento_pipeline.resources.settings import ReadsSettings
from nacento_pipeline.resources.wiring import make_event_queue, make_media_feed_queue, make_object_store
from nacento_pipeline.storage.adapters.base import ObjectStore
from nacento_pipeline.storage.adapters.event_queue import SqsEventQueue


class ObjectStoreResource(ReadsSettings):
    """Where images and batches live (NACENTO_S3_*, the prefixes). Credentials come from the AWS_* chain."""

    _store: ObjectStore | None = PrivateAttr(default=None)
    _queue: SqsEventQueue | None = PrivateAttr(default=None)
    _media_queue: SqsEventQueue | None = PrivateAttr(default=None)

    def get_store(self) -> ObjectStore:
        if self._store is None:
            self._store = make_object_store(self.settings)
        return self._store

    def get_event_queue(self) -> SqsEventQueue | None:
        """The queue of the bucket's event notifications, or None when the sensor scans by LIST only."""
        if self._queue is None:
            self._queue = make_event_queue(self.settings)
        return self._queue

    def get_media_feed_queue(self) -> SqsEventQueue | None:
        """The queue of the media prefix's notifications, or None when the media change feed is off."""
        if self._media_queue is None:
            self._media_queue = make_media_feed_queue(self.settings)
        return self._media_queue
