"""The post-write check around a write: chunk by chunk while it goes on, then a storage sample.

`ChunkVerifier` runs magento.gallery.verify's `check_written` on each chunk as it commits; `verify_write`
joins that database check with a bounded re-check of the written paths in storage (`storage_sample`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from nacento_pipeline.core.delta.model import GalleryDelta
from nacento_pipeline.core.paths import object_key
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.gallery.verify import (
    BAD_ROLE_COLUMNS,
    MISMATCH_COLUMNS,
    REMOVED_ACTIONS,
    WrittenCheck,
    check_written,
    concat_frames,
)
from nacento_pipeline.magento.gallery.verify_numbers import KEPT_ACTIONS

if TYPE_CHECKING:
    from nacento_pipeline.magento.gallery.sync import WriteResult


class ChunkVerifier:
    """`check_written` chunk by chunk while the write goes on.

    `submit` each written delta as its transaction commits (magento.gallery.sync.write_gallery's
    `on_written`), and a worker thread checks it (on connections of its own) while the writer's connection
    writes the next chunk; `result` waits for the last check and joins them. Use it as a context manager (the
    worker stops on exit).
    """

    def __init__(self, db: MagentoDatabase) -> None:
        self._db = db
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-chunks")
        self._checks: list[Future[WrittenCheck]] = []

    def __enter__(self) -> ChunkVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, delta: GalleryDelta) -> None:
        """Queue a check of this written delta on the worker thread (nothing when it wrote nothing)."""
        results = delta.sku_results
        ids = [int(i) for i in results["entity_id"].astype("int64") if int(i) > 0]
        if ids or len(delta.items) or (delta.store_values is not None and len(delta.store_values)):
            self._checks.append(
                self._pool.submit(check_written, self._db, delta.items, ids, delta.store_values)
            )

    def result(self) -> WrittenCheck:
        """Wait for every submitted check and return their findings joined into one."""
        found = [check.result() for check in self._checks]
        return WrittenCheck(
            mismatches=concat_frames([pd.DataFrame(columns=MISMATCH_COLUMNS), *(f.mismatches for f in found)])
            .sort_values(["sku", "value"], kind="stable")
            .reset_index(drop=True),
            bad_roles=concat_frames(
                [pd.DataFrame(columns=BAD_ROLE_COLUMNS), *(f.bad_roles for f in found)]
            ).reset_index(drop=True),
            chunks=sum(f.chunks for f in found),
            slow_chunks=sum(f.slow_chunks for f in found),
        )


# How many written paths the post-write check looks up in storage (see storage_sample for why a sample).
STORAGE_SAMPLE = 64


@dataclass(frozen=True)
class Verification:
    """What the post-write check found: the database against the write, a storage sample, the roles."""

    checked: int  # written (product, path) rows compared with the database
    not_in_database: pd.DataFrame  # sku, value, action, problem (MISMATCH_COLUMNS)
    sampled: pd.DataFrame  # value, key: the written paths looked up in storage now
    gone: pd.DataFrame  # value, key: sampled paths storage no longer has
    bad_roles: pd.DataFrame  # entity_id, role, value, store_id
    products: int  # products whose roles were checked
    slow_chunks: int = 0  # chunks of products whose numbers disagreed: compared row by row


def storage_sample(
    written_values: list[str], media_prefix: str, seed: str, size: int = STORAGE_SAMPLE
) -> pd.DataFrame:
    """A bounded random sample (value, key) of the written paths to look up in storage again.

    Why a sample and not every path: the ETags the write stored were read from storage by `image_etags`
    moments before, and the write touches only the database, so a written path can be missing now only if
    something deleted it from the bucket during the run. Re-listing every path cost more than the write
    itself (a second snapshot) and still raced with deletions made after it. A sample of at most
    STORAGE_SAMPLE keys (a LIST page or a few HEADs, well under a second) catches what goes wrong wholesale
    (a wrong bucket or prefix, a lifecycle rule or a cleanup emptying the folder); a single file deleted
    mid-run is the daily `gallery_audit`'s job, which lists the whole media prefix anyway.
    The sample is seeded by the run id: a re-execution checks the same paths.
    """
    chosen = (
        written_values
        if len(written_values) <= size
        else sorted(random.Random(seed).sample(written_values, size))
    )
    return pd.DataFrame({"value": chosen, "key": [object_key(v, media_prefix) for v in chosen]}, dtype=object)


def verify_write(
    db: MagentoDatabase,
    result: WriteResult,
    lookup: Callable[[pd.DataFrame], pd.DataFrame],
    *,
    media_prefix: str,
    seed: str,
    durations: dict[str, float],
    verifier: ChunkVerifier | None = None,
) -> Verification:
    """Verify a write: the database holds it and a sample of its paths is still in storage.

    The database holds what the write says and the batch's products' roles point at their gallery (one
    aggregate statement per chunk of products, the detailed comparison only for a chunk whose numbers
    disagree: `check_written`), and a bounded sample of the written paths is still in storage: `lookup`
    gives the sample's rows with `exists` (the asset's post-write check; the benchmark times it too). With
    `verifier` (given every chunk's delta during the write) the database part is what it already checked,
    waited for here (the result then need not keep its delta: its summary is read). `durations` gets
    verify_database and verify_storage_sample (seconds). The storage sample is drawn from the summary's
    sample of the written paths (seeded by the write's run id), seeded again by `seed`.
    """
    entity_ids = result.entity_ids()
    sampled = storage_sample(result.summary.sampled_values(), media_prefix, seed)

    def timed_lookup() -> pd.DataFrame:
        started = time.perf_counter()
        try:
            return lookup(sampled)
        finally:
            durations["verify_storage_sample"] = round(time.perf_counter() - started, 3)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-storage") as pool:
        # The storage sample waits on the object store while the database check waits on the database: at
        # once.
        storage = pool.submit(timed_lookup)
        started = time.perf_counter()
        written = (
            verifier.result()
            if verifier is not None
            else check_written(db, result.items, entity_ids, result.delta.store_values)
        )
        durations["verify_database"] = round(time.perf_counter() - started, 3)
        present = storage.result()
    return Verification(
        checked=sum(result.counts().get(action, 0) for action in KEPT_ACTIONS + REMOVED_ACTIONS),
        not_in_database=written.mismatches,
        sampled=sampled,
        gone=present.loc[~present["exists"].astype(bool), ["value", "key"]],
        bad_roles=written.bad_roles,
        products=len(entity_ids),
        slow_chunks=written.slow_chunks,
    )
