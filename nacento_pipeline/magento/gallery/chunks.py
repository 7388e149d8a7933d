"""Chunk transactions of a gallery write.

Under the writer lock each chunk's products are locked and its fingerprint compared with the plan's (equal:
the planned delta is written; different: the chunk is read and its delta recomputed), retried on retriable
errors, and a chunk that fails for good falls back to one transaction per SKU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.delta.model import DeltaRequest, GalleryDelta
from nacento_pipeline.core.failure_text import failure_text
from nacento_pipeline.core.frames import (
    DELTA_COLUMNS,
    REJECTION_COLUMNS,
    ROLE_COLUMNS,
    SKU_RESULT_COLUMNS,
    empty_frame,
)
from nacento_pipeline.core.retry import backoff_delays, is_retriable, retry_call
from nacento_pipeline.magento.catalog import in_chunks
from nacento_pipeline.magento.database import AttributeIds, MagentoDatabase, WriterSession
from nacento_pipeline.magento.gallery.chunk_write import write_chunk
from nacento_pipeline.magento.gallery.digest import record_applied
from nacento_pipeline.magento.gallery.plan import PlannedChunk, chunk_delta
from nacento_pipeline.magento.gallery.reader import state_fingerprint
from nacento_pipeline.magento.spellings import LegacySpellings


def sync_batch_chunk(
    db: MagentoDatabase,
    attrs: AttributeIds,
    request: DeltaRequest,
    planned: PlannedChunk | None,
    *,
    run_id: str,
    stores: dict[str, int],
    lock: WriterSession,
    spellings: LegacySpellings | None = None,
    digests: pd.Series | None = None,
    journal: bool = True,
) -> tuple[GalleryDelta, bool]:
    """Write a chunk in one transaction under the writer lock, its products locked first (lock_products).

    When the chunk's fingerprint is still the plan's (one aggregate statement), write the planned delta;
    otherwise (the products changed since the plan, or no plan) read the chunk's state, compute its delta
    again and write that. Returns what was written and whether it was planned again. With `digests`, what was
    applied per SKU is recorded in the same transaction.
    """
    with lock.transaction() as conn:
        lock_products(conn, db, request.skus)
        if planned is not None and _unchanged(conn, db, attrs, planned):
            delta, state, replanned = replace(planned.delta, request=request), planned.state(), False
        else:
            (delta, state), replanned = chunk_delta(conn, db, attrs, request, stores), True
        write_chunk(
            conn,
            db,
            attrs,
            delta,
            state,
            batch_key=batch_key_of(request),
            batch_time=request.batch_time,
            run_id=run_id,
            spellings=spellings,
            journal=journal,
        )
        if digests is not None:
            record_applied(conn, db, attrs, delta, state.products, digests, batch_key=batch_key_of(request))
    return delta, replanned


def lock_products(conn: sa.Connection, db: MagentoDatabase, skus: list[str]) -> None:
    """The transaction's first statement: `SELECT ... FOR UPDATE` on the products carrying the chunk's SKUs.

    Every row_id version on Adobe Commerce. A Magento admin save updates its product's row in its own
    transaction, so from here to the commit no admin save of these products can commit: one in progress is
    waited for (up to the lock-wait timeout) and then seen by the reads that follow, which take their snapshot
    after this statement; one that starts later waits for this transaction. The fingerprint check and the
    write therefore see the same rows. SQLite: nothing to lock (its writers are serialised by the file lock).
    """
    if not db.is_mysql:
        return
    product = db.tables.product
    for part in in_chunks(skus):
        conn.execute(
            sa.select(product.c[db.tables.link]).where(product.c.sku.in_(part)).with_for_update()
        ).all()


def _unchanged(conn: sa.Connection, db: MagentoDatabase, attrs: AttributeIds, planned: PlannedChunk) -> bool:
    """Is the chunk's fingerprint still the one its delta was planned from?"""
    return state_fingerprint(conn, db.tables, attrs, planned.skus, planned.products) == planned.fingerprint


def batch_key_of(request: DeltaRequest) -> str:
    """The request's batch_key; a ValueError when it has none (a plan to be written needs one)."""
    if request.batch_key is None:
        raise ValueError("a plan to be written needs a batch_key (recorded in the SKUs' sync state)")
    return request.batch_key


def _failed_sku_delta(request: DeltaRequest, sku: str, message: str) -> GalleryDelta:
    """Every row of a SKU that could not be written becomes `error`, with the failure as reason."""
    images = request.images[request.images["sku"] == sku]
    items = pd.DataFrame({c: pd.Series(dtype=object) for c in DELTA_COLUMNS})
    if len(images):
        items = pd.DataFrame(
            {
                "sku": sku,
                "value": images["value"].astype(str),
                "entity_id": 0,
                "action": "error",
                "reason": message,
                "label": images["label"].astype(str),
                "position": images["position"].astype(int),
                "disabled": images["disabled"].astype(bool),
                "roles": images["roles"].astype(str),
                "etag": "",
                "stored_etag": "",
                "value_id": 0,
                "record_id": 0,
                "meta_changed": False,
                "etag_changed": False,
                "split": False,
                "shared": False,
            }
        )[list(DELTA_COLUMNS)].reset_index(drop=True)
    result: dict[str, object] = {c: 0 for c in SKU_RESULT_COLUMNS}
    result.update({"sku": sku, "status": "error", "message": message})
    return GalleryDelta(
        items,
        empty_frame(ROLE_COLUMNS),
        pd.DataFrame([result])[list(SKU_RESULT_COLUMNS)],
        empty_frame(REJECTION_COLUMNS),
        request,
    )


def _first_line(exc: BaseException) -> str:
    return failure_text(exc, 500).splitlines()[0]


def _chunk_failure(skus: list[str], exc: BaseException) -> str:
    shown = ", ".join(skus[:5]) + (" ..." if len(skus) > 5 else "")
    return f"chunk [{shown}] failed, retried one SKU per transaction: {failure_text(exc)}"


@dataclass
class ChunkWriter:
    """Writes the chunks of one plan under one writer lock and keeps the tallies of the WriteResult."""

    db: MagentoDatabase
    lock: WriterSession
    stores: dict[str, int]
    run_id: str
    attempts: int
    sleep: Callable[[float], None]
    digests: pd.Series | None = None
    journal: bool = True
    attrs: AttributeIds = field(init=False)
    spellings: LegacySpellings = field(init=False)
    written: list[GalleryDelta] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retries: int = 0
    replanned: int = 0

    def __post_init__(self) -> None:
        self.attrs = self.db.attribute_ids()
        self.spellings = LegacySpellings(self.db)

    def chunk(self, request: DeltaRequest, planned: PlannedChunk) -> None:
        """The chunk in one transaction.

        On a permanent error, each of its SKUs in a transaction of its own.
        """
        try:
            delta, replanned = self._transaction(request, planned)
        except Exception as exc:  # noqa: BLE001 - permanent for the chunk: isolate the bad SKU(s)
            if is_retriable(exc):
                raise  # still failing after the retries (database down, lock lost...): fail the run
            self.errors.append(_chunk_failure(request.skus, exc))
            for sku in request.skus:
                self._single_sku(request, sku)
            return
        self.written.append(delta)
        self.replanned += int(replanned)

    def _single_sku(self, request: DeltaRequest, sku: str) -> None:
        """One SKU of a failed chunk, planned again under the lock; its failure becomes the SKU's error."""
        part = request.for_skus([sku])
        try:
            self.written.append(self._transaction(part, None)[0])
        except Exception as exc:  # noqa: BLE001 - reported as the SKU's error, others proceed
            self.errors.append(f"SKU {sku!r}: {_first_line(exc)}")
            self.written.append(_failed_sku_delta(part, sku, _first_line(exc)))

    def _transaction(self, request: DeltaRequest, planned: PlannedChunk | None) -> tuple[GalleryDelta, bool]:
        """sync_batch_chunk, retried on retriable errors (the retries counted)."""
        result, tries = retry_call(
            lambda: sync_batch_chunk(
                self.db,
                self.attrs,
                request,
                planned,
                run_id=self.run_id,
                stores=self.stores,
                lock=self.lock,
                spellings=self.spellings,
                digests=self.digests,
                journal=self.journal,
            ),
            backoff_delays(self.attempts),
            sleep=self.sleep,
        )
        self.retries += tries
        return result
