"""The sync engine without Dagster: plan a batch's gallery delta (read-only) or write it, chunk by chunk.

Used by the Dagster assets and the benchmark. Totals use the connector's names (see
core.delta.TOTAL_NAMES).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Protocol

import pandas as pd

from nacento_pipeline.core.delta import (
    TOTAL_NAMES,
    DeltaRequest,
    GalleryDelta,
    concat_deltas,
    split_request,
    to_utc_naive,
)
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.gallery_reader import read_stores
from nacento_pipeline.magento.gallery_writer import WriteResult, chunk_delta, sync_request

__all__ = ["TOTAL_NAMES", "GalleryDelta", "WriteResult", "build_request", "plan_delta", "write_gallery"]


class BatchLike(Protocol):
    """What the engine reads from core.batch.ParsedBatch."""

    images: pd.DataFrame
    rejections: pd.DataFrame

    @property
    def invalid_skus(self) -> AbstractSet[str]: ...

    @property
    def payload_values(self) -> pd.DataFrame: ...


def _etag_frame(etags: object) -> pd.DataFrame:
    """An ETAG_COLUMNS frame, or a storage.etag_snapshot.EtagSnapshot (its .frame)."""
    frame = getattr(etags, "frame", etags)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"etags: expected a DataFrame or an EtagSnapshot, got {type(etags).__name__}")
    return frame


def build_request(
    batch: BatchLike, etags: object, *, mode: str, batch_time: datetime | None = None, force: bool = False,
    batch_key: str | None = None,
) -> DeltaRequest:
    return DeltaRequest(
        images=batch.images,
        etags=_etag_frame(etags),
        invalid_skus=frozenset(batch.invalid_skus),
        payload_values=batch.payload_values,
        mode=mode,
        batch_time=to_utc_naive(batch_time),
        force=force,
        rejections=getattr(batch, "rejections", None),
        batch_key=batch_key,
        store_values=getattr(batch, "store_values", None),
        role_scope=getattr(batch, "role_scope", None),
    )


def plan_delta(
    db: MagentoDatabase,
    batch: BatchLike,
    etags: object,
    *,
    mode: str,
    batch_time: datetime | None = None,
    force: bool = False,
    chunk_size: int = 500,
    batch_key: str | None = None,
) -> GalleryDelta:
    """The delta the batch would write now (read-only): state read per chunk of SKUs, then core.delta.

    Pass `batch_key` so that a batch tied on drop time with the last applied one is judged as the write
    will judge it (without it, ties are never stale).
    """
    request = build_request(batch, etags, mode=mode, batch_time=batch_time, force=force, batch_key=batch_key)
    attrs = db.attribute_ids()
    with db.engine.connect() as conn:
        stores = read_stores(conn, db.tables)
        parts = [chunk_delta(conn, db, attrs, sub, stores)[0] for sub in split_request(request, chunk_size)]
    return concat_deltas(parts, request)


def write_gallery(
    db: MagentoDatabase,
    batch: BatchLike,
    etags: object,
    *,
    mode: str,
    chunk_size: int = 500,
    batch_key: str,
    batch_time: datetime | None = None,
    run_id: str = "",
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> WriteResult:
    """Write the batch: writer lock held, each chunk re-read, its delta recomputed and written in one transaction.
    `progress` receives one line per chunk (x of y SKUs, rate, ETA) on multi-chunk writes."""
    request = build_request(batch, etags, mode=mode, batch_time=batch_time, force=force, batch_key=batch_key)
    return sync_request(db, request, chunk_size=chunk_size, batch_key=batch_key, batch_time=batch_time, run_id=run_id,
                        progress=progress)
