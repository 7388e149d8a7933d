"""The sync engine without Dagster: plan a batch's gallery (read-only), then write the plan, chunk by chunk.

`plan_gallery` reads each chunk's state once and computes its delta once; `write_gallery` writes the plan
under the writer lock, re-checking each chunk's fingerprint (see magento.gallery.chunks). Used by the Dagster
assets, the CLI and the benchmark. Totals use the connector's names (see core.delta.model.TOTAL_NAMES).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.delta.model import (
    TOTAL_NAMES,
    DeltaRequest,
    DeltaView,
    GalleryDelta,
    concat_deltas,
    iter_cut_request,
    to_utc_naive,
)
from nacento_pipeline.core.delta.written import SAMPLED_ACTIONS, WrittenSummary
from nacento_pipeline.core.gallery_digest import planned_digests, unchanged_skus
from nacento_pipeline.core.progress import progress_line
from nacento_pipeline.core.retry import DEFAULT_ATTEMPTS
from nacento_pipeline.magento.catalog import in_chunks
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.gallery import plan as gallery_plan
from nacento_pipeline.magento.gallery.chunks import ChunkWriter, batch_key_of
from nacento_pipeline.magento.gallery.digest import advance_unchanged, applied_digests
from nacento_pipeline.magento.gallery.plan import GalleryPlan, PartSink, plan_chunks
from nacento_pipeline.magento.gallery.reader import read_stores
from nacento_pipeline.magento.gallery.verify_write import STORAGE_SAMPLE
from nacento_pipeline.magento.journal import Journal

__all__ = [
    "TOTAL_NAMES",
    "GalleryDelta",
    "GalleryPlan",
    "WriteResult",
    "build_request",
    "plan_gallery",
    "sync_gallery",
    "write_gallery",
]


class BatchLike(Protocol):
    """What the engine reads from core.batch.parse.ParsedBatch."""

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
    batch: BatchLike,
    etags: object,
    *,
    mode: str,
    batch_time: datetime | None = None,
    force: bool = False,
    batch_key: str | None = None,
    remove_store_role_images: bool = False,
) -> DeltaRequest:
    """The delta request of a batch against these ETags, with the write's settings."""
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
        remove_store_role_images=remove_store_role_images,
    )


def plan_gallery(
    db: MagentoDatabase,
    batch: BatchLike,
    etags: object,
    *,
    mode: str,
    batch_time: datetime | None = None,
    force: bool = False,
    chunk_size: int = 500,
    batch_key: str | None = None,
    remove_store_role_images: bool = False,
    sink: PartSink | None = None,
) -> GalleryPlan:
    """The plan of the batch (read-only): per chunk of SKUs the state read, its fingerprint and its delta.

    Pass `batch_key` so that a batch tied on drop time with the last applied one is judged as the write
    will judge it (without it, ties are never stale); a plan is written only with one.
    `remove_store_role_images`: purge images that hold a role in a store view too (Magento refuses that;
    by default they are kept and warned about, see core.delta.compute).

    SKUs whose digest (core.gallery_digest: what the batch and the ETag snapshot say for them) is the one
    recorded when they were last written, on a product not saved since, are left out (`unchanged_skus` of the
    plan): they never reach the delta rules or the write. `force` plans every SKU. `sink`: where each planned
    group's chunks go at once (plan.plan_chunks; resources.plan_store.part_sink writes them to disk).
    """
    request = build_request(
        batch,
        etags,
        mode=mode,
        batch_time=batch_time,
        force=force,
        batch_key=batch_key,
        remove_store_role_images=remove_store_role_images,
    )
    digests = _planned_digests(request)
    unchanged: list[str] = []
    advance: list[str] = []
    if not force and len(digests):
        with db.engine.connect() as conn:
            applied = applied_digests(conn, db.tables, digests.index)
        unchanged = unchanged_skus(digests, applied["digest"])
        if unchanged:
            advance = [
                s
                for s, k in zip(unchanged, applied.loc[unchanged, "batch_key"], strict=True)
                if k != batch_key
            ]
            request = request.for_skus(set(request.skus).difference(unchanged))
            digests = digests.drop(unchanged)
    plan = plan_chunks(db, request, chunk_size, sink)
    return replace(plan, digests=digests, unchanged_skus=tuple(unchanged), advance_skus=tuple(advance))


def _planned_digests(request: DeltaRequest) -> pd.Series:
    """core.gallery_digest.planned_digests a plan group at a time.

    Each digest is a SKU's own (the same series), so its frames of text hold one group's rows, not the
    batch's.
    """
    size = gallery_plan.PLAN_GROUP_SKUS
    if len(request.skus) <= size:
        return planned_digests(request)
    parts = [planned_digests(group) for group in iter_cut_request(request, size)]
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def write_gallery(
    db: MagentoDatabase,
    plan: GalleryPlan,
    *,
    run_id: str = "",
    progress: Callable[[str], None] | None = None,
    on_written: Callable[[GalleryDelta], None] | None = None,
    journal: bool = True,
    keep_delta: bool = True,
) -> WriteResult:
    """Write a plan: writer lock held, each chunk's fingerprint re-checked, one transaction per chunk.

    A chunk is planned again only when its products changed since the plan. `progress` receives one line per
    chunk (x of y SKUs, rate, ETA) on multi-chunk writes; `on_written` each chunk's written delta once it is
    committed (magento.gallery.verify_write.ChunkVerifier checks it meanwhile); `journal`: the undo journal
    written with each chunk (off only to measure its cost); `keep_delta=False`: the result holds the summed
    figures only, not every chunk's delta (sync_request).
    """
    return sync_request(
        db,
        plan,
        run_id=run_id,
        progress=progress,
        on_written=on_written,
        journal=journal,
        keep_delta=keep_delta,
    )


def sync_gallery(
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
    remove_store_role_images: bool = False,
) -> WriteResult:
    """Plan and write the batch in one call (the CLI, the tests and the benchmark's engine path)."""
    plan = plan_gallery(
        db,
        batch,
        etags,
        mode=mode,
        batch_time=batch_time,
        force=force,
        chunk_size=chunk_size,
        batch_key=batch_key,
        remove_store_role_images=remove_store_role_images,
    )
    return write_gallery(db, plan, run_id=run_id, progress=progress)


@dataclass
class WriteResult(DeltaView):
    """What was really written.

    The figures summed chunk by chunk (`summary`: counts, totals, products, a sample of the written paths),
    the delta per chunk joined (planned, or recomputed where the chunk changed since the plan; None when the
    write was asked not to keep it), statement counts, failures, and how many chunks had to be planned again
    under the lock.
    """

    kept: GalleryDelta | None  # None: not kept (keep_delta=False)
    summary: WrittenSummary = field(default_factory=WrittenSummary)
    statements: int = 0
    write_statements: int = 0
    errors: list[str] = field(default_factory=list)
    chunks: int = 0
    replanned_chunks: int = 0
    retries: int = 0
    seconds: float = 0.0

    @property
    def delta(self) -> GalleryDelta:  # type: ignore[override]  # DeltaView's frames read it
        """The written delta joined (items, roles, sku_results, warnings...), when the write kept it."""
        if self.kept is None:
            raise ValueError("this write kept no delta (keep_delta=False): read its summary")
        return self.kept

    @property
    def changed_entity_ids(self) -> list[int]:
        """The entity ids of the products the write changed, sorted."""
        return sorted(self.summary.changed_entity_ids)

    def counts(self) -> dict[str, int]:
        """Rows written per action."""
        return dict(self.summary.action_counts)

    def totals(self) -> dict[str, int]:
        """The write's summed totals (see the summary's `totals`)."""
        return self.summary.totals()

    def written_values(self) -> list[str]:
        """Gallery values this write inserted or updated (for post-write checks), sorted."""
        items = self.items
        return sorted(set(items.loc[items["action"].isin(SAMPLED_ACTIONS), "value"]))

    def entity_ids(self) -> list[int]:
        """Products of the batch's SKUs that were found (whether or not anything changed), sorted."""
        return sorted(self.summary.entity_ids)


def _advance_unchanged(
    conn: sa.Connection, db: MagentoDatabase, plan: GalleryPlan, *, run_id: str, journal: bool
) -> None:
    """The sync state of the SKUs the plan left out as unchanged names this batch (gallery_digest).

    With `journal`, their sync-state rows' before-images go into the undo journal first, so a revert restores
    them.
    """
    skus = list(plan.advance_skus)
    batch_key = batch_key_of(plan.request)
    products = pd.DataFrame(columns=["sku", "entity_id", "link_id", "scope"])
    if journal:
        t = db.tables
        rows = [
            tuple(r)
            for part in in_chunks(skus)
            for r in conn.execute(
                sa.select(t.product.c.sku, t.product.c.entity_id, t.product.c[t.link]).where(
                    t.product.c.sku.in_(part)
                )
            )
        ]
        products = pd.DataFrame(rows, columns=["sku", "entity_id", "link_id"]).drop_duplicates("link_id")
        products = products.assign(scope="sync").reset_index(drop=True)
    log = Journal(db.tables, db.attribute_ids(), batch_key, run_id)
    log.before(conn, products)
    advance_unchanged(
        conn, db.tables, skus, batch_key=batch_key, batch_time=plan.request.batch_time, run_id=run_id
    )
    log.after(conn)


def sync_request(
    db: MagentoDatabase,
    plan: GalleryPlan,
    *,
    run_id: str = "",
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    lock_timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
    on_written: Callable[[GalleryDelta], None] | None = None,
    journal: bool = True,
    keep_delta: bool = True,
) -> WriteResult:
    """Write a plan chunk by chunk under the writer lock (see sync_batch_chunk).

    A chunk that fails for good falls back to one transaction per SKU. `progress` gets one line per chunk (x
    of y SKUs, rate, ETA) when there is more than one chunk; `on_written` each delta written, once its
    transaction is committed (the post-write check of a chunk can then run while the next one is written).
    `journal`: the undo journal written with each chunk (off only to measure its cost). `keep_delta=False`:
    each chunk's delta is summed into the result's summary and dropped (memory bounded by a chunk); else the
    result joins them too.
    """
    batch_key_of(plan.request)
    started = time.perf_counter()
    total_before, writes_before = db.statements()
    parts = plan.parts()
    total_skus = plan.sku_count()
    with db.writer_lock(lock_timeout) as lock:
        with db.engine.connect() as conn:
            stores = read_stores(conn, db.tables)
        if plan.advance_skus:
            with lock.transaction() as conn:
                _advance_unchanged(conn, db, plan, run_id=run_id, journal=journal)
        writer = ChunkWriter(db, lock, stores, run_id, attempts, sleep, plan.digests, journal)
        summary = WrittenSummary(seed=run_id, sample_size=STORAGE_SAMPLE)
        kept: list[GalleryDelta] = []
        done_skus = 0
        for number, (request, planned) in enumerate(parts, start=1):
            writer.chunk(request, planned)
            for delta in writer.written:
                summary.add(delta)
                if on_written is not None:
                    on_written(delta)
            if keep_delta:
                kept.extend(writer.written)
            writer.written.clear()
            done_skus += len(planned.skus)
            if progress is not None and len(parts) > 1:
                progress(
                    progress_line(done_skus, total_skus, time.perf_counter() - started, number, len(parts))
                )
    total_after, writes_after = db.statements()
    return WriteResult(
        kept=concat_deltas(kept, plan.request) if keep_delta else None,
        summary=summary,
        statements=total_after - total_before,
        write_statements=writes_after - writes_before,
        errors=writer.errors,
        chunks=len(parts),
        replanned_chunks=writer.replanned,
        retries=writer.retries,
        seconds=time.perf_counter() - started,
    )
