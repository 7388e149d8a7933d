"""Planning a gallery write (read-only): per chunk of SKUs the state read, its fingerprint and its delta.

The state is read and the delta computed per group of chunks, then cut per chunk; `GalleryPlan` is what
`magento.gallery.sync` writes. Given a sink (gallery_delta's: resources.plan_store.part_sink), each group's
chunks leave memory for a part file as soon as they are planned, and the plan reads them back from there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property
from typing import overload

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.delta.compute import delta_for
from nacento_pipeline.core.delta.model import (
    DeltaRequest,
    DeltaView,
    GalleryDelta,
    chunk_numbers,
    concat_deltas,
    cut_request,
    iter_cut_request,
    rows_per_chunk,
    split_delta,
    split_request,
    sum_counts,
)
from nacento_pipeline.core.frames import (
    REJECTION_COLUMNS,
    empty_frame,
)
from nacento_pipeline.magento.database import AttributeIds, MagentoDatabase
from nacento_pipeline.magento.gallery.reader import (
    ChunkState,
    read_chunk_state,
    read_stores,
    state_fingerprint,
)


@dataclass(frozen=True)
class PlannedChunk:
    """One chunk of a plan.

    Its SKUs, the delta computed from what was read, the fingerprint of that state
    (magento.gallery.reader.state_fingerprint) and the parts of it the write needs (products, sync state). The
    delta carries no request (the plan holds it once).
    """

    skus: tuple[str, ...]
    delta: GalleryDelta
    fingerprint: str
    products: pd.DataFrame
    sync_state: pd.DataFrame

    @classmethod
    def of(cls, skus: list[str], delta: GalleryDelta, state: ChunkState, fingerprint: str) -> PlannedChunk:
        """The planned chunk of these SKUs, its delta kept without the request (the plan holds it once)."""
        return cls(tuple(skus), replace(delta, request=None), fingerprint, state.products, state.sync_state)

    def state(self) -> ChunkState:
        """What write_chunk reads of the chunk's state (the products' links, the sync state)."""
        empty = empty_frame(REJECTION_COLUMNS)
        return ChunkState(self.products, empty, empty, self.sync_state, empty)


@dataclass(frozen=True)
class GalleryPlan(DeltaView):
    """A batch's delta, planned chunk by chunk (read-only), ready to be written.

    The request, the chunk size it was cut with and, per chunk, the delta and the fingerprint of the state it
    was computed from. Picklable.

    Reads like a GalleryDelta (counts, items, roles, sku_results, warnings, totals, unknown_skus, mode)
    through `delta`, the chunks' deltas joined once.
    """

    request: DeltaRequest
    chunk_size: int
    chunks: Sequence[PlannedChunk]  # a tuple, or read lazily from stored parts (resources.plan_store)
    # sku -> digest of what is planned (core.gallery_digest), recorded by the write; None: nothing recorded
    digests: pd.Series | None = None
    # SKUs of the batch left out of the plan: what they would be planned with was applied already
    unchanged_skus: tuple[str, ...] = ()
    # those of them last written by another batch: their sync state is advanced to this one (gallery_digest)
    advance_skus: tuple[str, ...] = ()
    # the (chunk request, chunk) pairs when stored in parts (resources.plan_store): read one part at a time,
    # `request` then holds the batch's settings without its frames
    stored: Sequence[tuple[DeltaRequest, PlannedChunk]] | None = None

    # DeltaView reads it; here joined once, on demand
    @cached_property
    def delta(self) -> GalleryDelta:  # type: ignore[override]
        """The chunks' deltas joined into one, once, on demand."""
        return concat_deltas([c.delta for c in self.chunks], self.request)

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the joined delta (rebuilt on demand): the chunks hold the same rows."""
        return {k: v for k, v in self.__dict__.items() if k != "delta"}

    @property
    def mode(self) -> str:
        """The request's mode."""
        return self.request.mode

    def counts(self) -> dict[str, int]:
        """Rows per action, summed over the chunks (one stored part read at a time, nothing joined)."""
        return sum_counts(chunk.delta.counts() for chunk in self.chunks)

    def chunk_groups(self) -> Iterator[list[PlannedChunk]]:
        """The planned chunks a group at a time.

        A stored plan's parts one after the other (one part read at once), an unstored plan's chunks in groups
        of PLAN_GROUP_SKUS worth of chunks.
        """
        stored = self.stored
        read_part = getattr(stored, "part", None)  # storage.plan_parts.StoredParts (not imported: layers)
        if read_part is not None:
            for number in range(len(getattr(stored, "files", ()))):
                yield [chunk for _, chunk in read_part(number)]
            return
        per = max(1, PLAN_GROUP_SKUS // max(1, self.chunk_size))
        chunks = list(self.chunks)
        for start in range(0, len(chunks), per):
            yield chunks[start : start + per]

    def sku_count(self) -> int:
        """SKUs of the planned chunks (without reading stored parts when their sizes were kept)."""
        sizes = getattr(self.stored, "sizes", ())
        return int(sum(sizes)) if sizes else sum(len(c.skus) for c in self.chunks)

    def parts(self) -> Sequence[tuple[DeltaRequest, PlannedChunk]]:
        """Each chunk's request (the request cut again with the plan's chunk size) with its planned chunk.

        A stored plan gives its pairs as stored (read lazily, one part at a time).
        """
        if self.stored is not None:
            return self.stored
        requests = split_request(self.request, self.chunk_size)
        for sub, chunk in zip(requests, self.chunks, strict=True):
            if tuple(sub.skus) != chunk.skus:
                raise ValueError("plan and request disagree on the chunks' SKUs")
        return list(zip(requests, self.chunks, strict=True))


def chunk_delta(
    conn: sa.Connection,
    db: MagentoDatabase,
    attrs: AttributeIds,
    request: DeltaRequest,
    stores: dict[str, int] | None = None,
) -> tuple[GalleryDelta, ChunkState]:
    """Read a chunk's state and compute its delta."""
    state = read_chunk_state(conn, db.tables, attrs, request.skus, stores)
    return state_delta(request, state), state


def state_delta(request: DeltaRequest, state: ChunkState) -> GalleryDelta:
    """The delta of a request against the state read for it, with the read's warnings.

    The one place a delta is computed from Magento's tables.
    """
    return delta_for(request, state.as_magento_state()).with_warnings(state.warnings)


# SKUs whose state is read and whose delta is computed together when planning (a multiple of the chunk size):
# pandas and the driver cost much per call and little per row, so 20 chunks of 500 planned at once cost little
# more than one. The delta is then cut into the chunks' deltas (core.delta.model.split_delta).
PLAN_GROUP_SKUS = 10_000


# Where a plan's (chunk request, planned chunk) pairs go as they are planned: a function that consumes them
# (one group's worth at a time) and returns them as a sequence read back lazily (plan_parts.write_parts).
PartSink = Callable[
    [Iterator[tuple[DeltaRequest, "PlannedChunk"]]], Sequence[tuple[DeltaRequest, "PlannedChunk"]]
]


def plan_chunks(
    db: MagentoDatabase, request: DeltaRequest, chunk_size: int, sink: PartSink | None = None
) -> GalleryPlan:
    """The plan of a request (read-only): per chunk of SKUs, the state read, its fingerprint and its delta.

    The state is read and the delta computed per group of chunks (PLAN_GROUP_SKUS), then cut per chunk; each
    chunk gets its own fingerprint, the one its write re-checks. A group's delta is computed in a worker
    thread while the connection fingerprints its chunks and reads the next group: pandas works while the
    database does, every statement still on the one connection (one consistent view of the tables).

    With `sink`, each group's chunks go to it (with their requests) as soon as they are planned, and the plan
    reads them back from it: no more than two groups of the plan are in memory at once (plan_groups).
    """
    size = max(1, int(chunk_size))
    if sink is None:
        chunks = tuple(chunk for _, chunk in planned_pairs(db, request, size, requests=False))
        return GalleryPlan(request, chunk_size, chunks)
    stored = sink(planned_pairs(db, request, size, requests=True))
    return GalleryPlan(request.settings_only(), chunk_size, StoredChunks(stored), stored=stored)


@dataclass(frozen=True)
class StoredChunks(Sequence["PlannedChunk"]):
    """The planned chunks of stored (chunk request, chunk) pairs, read lazily through them."""

    pairs: Sequence[tuple[DeltaRequest, PlannedChunk]]

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[PlannedChunk]:
        return (chunk for _, chunk in self.pairs)

    @overload
    def __getitem__(self, index: int) -> PlannedChunk: ...
    @overload
    def __getitem__(self, index: slice) -> list[PlannedChunk]: ...
    def __getitem__(self, index: int | slice) -> PlannedChunk | list[PlannedChunk]:
        if isinstance(index, slice):
            return [chunk for _, chunk in self.pairs[index]]
        return self.pairs[index][1]


def planned_pairs(
    db: MagentoDatabase, request: DeltaRequest, size: int, *, requests: bool
) -> Iterator[tuple[DeltaRequest, PlannedChunk]]:
    """The (chunk request, planned chunk) pairs of a request, group by group (see plan_chunks).

    Without `requests`, the chunk requests are not cut (the request given in their place).
    """
    attrs = db.attribute_ids()
    with (
        db.engine.connect() as conn,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan-delta") as worker,
    ):
        if db.is_mysql:
            # Every read and fingerprint of the plan in one snapshot, whatever the server's default isolation:
            # a fingerprint taken after a concurrent commit would vouch for state the delta never saw.
            conn.execution_options(isolation_level="REPEATABLE READ")
        stores = read_stores(conn, db.tables)
        pending: deque[_GroupRead] = deque()

        def done(group: _GroupRead) -> Iterator[tuple[DeltaRequest, PlannedChunk]]:
            chunks = _planned_group(conn, db, attrs, group, size, stores)
            cut = (
                cut_request(group.request, size, group.request.skus) if requests else [request] * len(chunks)
            )
            for sub, chunk in zip(cut, chunks, strict=True):
                if requests and tuple(sub.skus) != chunk.skus:
                    raise ValueError("plan and request disagree on the chunks' SKUs")
                yield sub, chunk

        for group in _plan_groups(request, size):
            pending.append(_read_group(conn, db, attrs, group, size, stores, worker))
            if len(pending) > 1:  # two groups' states at most in memory: the previous group's delta is due
                yield from done(pending.popleft())
        while pending:
            yield from done(pending.popleft())


def _plan_groups(request: DeltaRequest, size: int) -> Iterator[DeltaRequest]:
    """The request cut into groups of whole chunks, one group copied at a time.

    Each group with only its own SKUs' rows (as its chunks would have them); a request of one chunk as it is
    (as split_request gives it).
    """
    if len(request.skus) <= size:
        return iter(split_request(request, size))
    return iter_cut_request(request, max(size, PLAN_GROUP_SKUS // size * size))


@dataclass
class _GroupRead:
    """A group of chunks as read.

    Its request, per chunk the SKUs, products, sync state and fingerprint, and the group's delta (being
    computed by the worker).
    """

    request: DeltaRequest
    members: list[list[str]]
    products: list[pd.DataFrame]
    sync_states: list[pd.DataFrame]
    fingerprints: list[str]
    delta: Future[GalleryDelta]


def _read_group(
    conn: sa.Connection,
    db: MagentoDatabase,
    attrs: AttributeIds,
    group: DeltaRequest,
    size: int,
    stores: dict[str, int],
    worker: ThreadPoolExecutor,
) -> _GroupRead:
    """Read the group's state, hand its delta to the worker, then fingerprint each chunk.

    The chunks' products and sync state are cut before: the worker alone reads the state from then on.
    """
    skus = group.skus
    state = read_chunk_state(conn, db.tables, attrs, skus, stores)
    members = [skus[start : start + size] for start in range(0, len(skus), size)]
    products = _rows_per_chunk(state.products, skus, size)
    sync_states = _rows_per_chunk(state.sync_state, skus, size)
    delta = worker.submit(state_delta, group, state)
    fingerprints = [
        state_fingerprint(conn, db.tables, attrs, chunk, rows)
        for chunk, rows in zip(members, products, strict=True)
    ]
    return _GroupRead(group, members, products, sync_states, fingerprints, delta)


def _planned_group(
    conn: sa.Connection,
    db: MagentoDatabase,
    attrs: AttributeIds,
    group: _GroupRead,
    size: int,
    stores: dict[str, int],
) -> list[PlannedChunk]:
    """The planned chunks of a group: its delta cut per chunk.

    Each chunk is read and computed alone instead when a row of the delta names no SKU of the group (it could
    not be placed in a chunk).
    """
    delta = group.delta.result()
    parts = (
        split_delta(delta, group.request.skus, size)
        if len(group.members) > 1
        else [replace(delta, request=None)]
    )
    if parts is None:
        return [_plan_chunk(conn, db, attrs, sub, stores) for sub in split_request(group.request, size)]
    return [
        PlannedChunk(tuple(chunk), part, fingerprint, products, sync_state)
        for chunk, part, fingerprint, products, sync_state in zip(
            group.members, parts, group.fingerprints, group.products, group.sync_states, strict=True
        )
    ]


def _plan_chunk(
    conn: sa.Connection,
    db: MagentoDatabase,
    attrs: AttributeIds,
    request: DeltaRequest,
    stores: dict[str, int],
) -> PlannedChunk:
    delta, state = chunk_delta(conn, db, attrs, request, stores)
    fingerprint = state_fingerprint(conn, db.tables, attrs, request.skus, state.products)
    return PlannedChunk.of(request.skus, delta, state, fingerprint)


def _rows_per_chunk(frame: pd.DataFrame, skus: list[str], size: int) -> list[pd.DataFrame]:
    """The rows of `frame` of each chunk of `skus` (by their sku), reindexed; rows of other SKUs dropped."""
    count = (len(skus) + size - 1) // size
    return rows_per_chunk(frame, chunk_numbers(frame["sku"], pd.Index(skus), size), count, reindex=True)
