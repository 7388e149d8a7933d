"""The small object-store protocol every storage backend implements, and its request counter."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from nacento_pipeline.core.objects import ObjectInfo, strip_etag

__all__ = ["ObjectInfo", "ObjectStore", "RequestCounter", "StorageError", "strip_etag"]

REQUEST_KINDS = ("LIST", "HEAD", "GET", "PUT", "COPY", "DELETE")


class StorageError(RuntimeError):
    """A storage call failed in a way the caller should report (names the key/prefix)."""


class RequestCounter:
    """Thread-safe count of requests by kind (LIST pages, HEAD, GET, PUT, COPY, DELETE calls)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, kind: str, n: int = 1) -> None:
        """Count `n` requests of `kind`."""
        with self._lock:
            self._counts[kind] += n

    def snapshot(self) -> dict[str, int]:
        """The counts so far, by kind (every kind of REQUEST_KINDS, 0 when none)."""
        with self._lock:
            return {kind: self._counts.get(kind, 0) for kind in REQUEST_KINDS}

    def since(self, before: dict[str, int]) -> dict[str, int]:
        """The requests made since `before` (an earlier snapshot), by kind."""
        now = self.snapshot()
        return {kind: now[kind] - before.get(kind, 0) for kind in REQUEST_KINDS}


@runtime_checkable
class ObjectStore(Protocol):
    """What the pipeline needs from a bucket. Keys never start with '/'."""

    requests: RequestCounter

    @property
    def display_name(self) -> str:
        """`s3://bucket` or `file:///path`, for logs and metadata (never credentials)."""
        ...

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects under `prefix` in key order, lazily paginated (one LIST request counted per page)."""
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """The object's info, or None when it does not exist (one HEAD request)."""
        ...

    def get(self, key: str) -> bytes:
        """The object's content; raises KeyError when missing."""
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """The object's content as a stream of chunks, for large bunch files."""
        ...

    def put(self, key: str, data: bytes) -> ObjectInfo:
        """Write the object (replacing one under the key); its info as stored."""
        ...

    def copy(self, src_key: str, dst_key: str) -> None:
        """Copy an object inside the store, nothing downloaded; raises KeyError when the source is missing."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Delete keys (missing keys are not an error); batched 1000 per request on S3."""
        ...
