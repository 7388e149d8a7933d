"""gallery_delta's plan stored as parts on local disk, so that Dagster's storage holds a small handle only.

`store_plan` writes the plan's (chunk request, planned chunk) pairs in parts of PLAN_GROUP_SKUS worth of
chunks (storage.plan_parts: one pickle file per part, written and dropped in turn) and returns the same plan
with `stored` pointing at them, its chunks read lazily from them and its request stripped of its frames
(each chunk carries its own request). The write (`sync_request`) then reads one part at a time.
gallery_delta does not wait for the IO manager: it plans into `part_sink` (each group's part written as soon
as it is planned, `planning_directory`), and `store_plan` only moves that directory into place.

Where: `<storage dir>/gallery_delta/<partition>.parts/<run id>/part-NNNNN.pickle`, beside the pickle of the
handle (resources/io_manager.py). Who deletes it: the IO manager's retention (the directory goes with the
handle once no step of the run still reads the plan; a failed write keeps both, which is what "re-execute
from failure" and the run retries load); a later run of gallery_delta for the same partition replaces it. A
planning directory left by a step that failed before its output was stored is removed by the step itself
(`planning_directory`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path

import pandas as pd

from nacento_pipeline.core.delta.model import DeltaRequest, cut_request
from nacento_pipeline.magento.gallery import plan as gallery_plan
from nacento_pipeline.magento.gallery.plan import GalleryPlan, PartSink, PlannedChunk, StoredChunks
from nacento_pipeline.storage.plan_parts import StoredParts, remove_parts, write_parts


def _pair_skus(pair: tuple[DeltaRequest, PlannedChunk]) -> int:
    return len(pair[1].skus)


def _part_request(request: DeltaRequest, skus: list[str]) -> DeltaRequest:
    """The request's rows of these SKUs and the ETags of their images: copies of the part's rows only."""
    part = request.for_skus(skus)
    values = pd.Index(part.images["value"].unique())
    return replace(part, etags=request.etags[values.get_indexer(request.etags["value"]) >= 0])


def _pairs(plan: GalleryPlan, per_part: int) -> Iterator[tuple[DeltaRequest, PlannedChunk]]:
    """The plan's (chunk request, chunk) pairs, as GalleryPlan.parts gives them, cut one part at a time.

    Only one part's copy of the request's rows exists at once (parts() cuts the whole request first).
    """
    chunks = plan.chunks
    if len(chunks) <= 1 or plan.stored is not None:
        yield from plan.parts()
        return
    whole = plan.request
    for start in range(0, len(chunks), per_part):
        group = list(chunks[start : start + per_part])
        skus = [sku for chunk in group for sku in chunk.skus]
        requests = cut_request(_part_request(whole, skus), plan.chunk_size, skus)
        for request, chunk in zip(requests, group, strict=True):
            if tuple(request.skus) != chunk.skus:
                raise ValueError("plan and request disagree on the chunks' SKUs")
            yield request, chunk


def store_plan(plan: GalleryPlan, directory: Path) -> GalleryPlan:
    """The plan with its chunks written into `directory` (replaced if it exists) and read back lazily.

    A plan planned into parts already (`part_sink`) has its directory moved there (a rename on the same disk).
    """
    if isinstance(plan.stored, StoredParts):
        if Path(plan.stored.directory) == directory:
            return plan  # already there
        remove_parts(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(plan.stored.directory, directory)
        with suppress(OSError):  # the planning directories' folder, once empty
            Path(plan.stored.directory).parent.rmdir()
        moved = replace(plan.stored, directory=str(directory))
        return replace(plan, chunks=StoredChunks(moved), stored=moved)
    per_part = max(1, gallery_plan.PLAN_GROUP_SKUS // max(1, plan.chunk_size))  # a planned group's worth
    stored = write_parts(_pairs(plan, per_part), directory, per_part, size=_pair_skus)
    return replace(plan, request=plan.request.settings_only(), chunks=StoredChunks(stored), stored=stored)


@contextmanager
def planning_directory(storage_dir: str | Path, run_id: str) -> Iterator[Path]:
    """Where gallery_delta plans into parts for this run.

    The directory is `<storage dir>/gallery_delta/.planning/<run id>`, on the disk of the IO manager's
    storage, so that store_plan's move is a rename; removed if the step fails before its output took it over.
    """
    directory = Path(storage_dir) / "gallery_delta" / ".planning" / run_id
    try:
        yield directory
    except BaseException:
        remove_parts(directory)
        raise


def part_sink(directory: Path, chunk_size: int) -> PartSink:
    """A sink for plan_chunks/plan_gallery: the pairs written into `directory` as they are planned.

    One part per planned group (store_plan then moves the directory where the IO manager keeps the plan's
    parts).
    """
    per_part = max(1, gallery_plan.PLAN_GROUP_SKUS // max(1, int(chunk_size)))

    def sink(
        pairs: Iterator[tuple[DeltaRequest, PlannedChunk]],
    ) -> StoredParts[tuple[DeltaRequest, PlannedChunk]]:
        return write_parts(pairs, directory, per_part, size=_pair_skus)

    return sink
