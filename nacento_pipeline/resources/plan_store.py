"""gallery_delta's plan stored as parts on local disk, so that Dagster's storage holds a small handle only.

`store_plan` writes the plan's (chunk request, planned chunk) pairs in parts of PLAN_GROUP_SKUS worth of
chunks (storage.plan_parts: one pickle file per part, written and dropped in turn) and returns the same plan
with `stored` pointing at them, its chunks read lazily from them and its request stripped of its frames
(each chunk carries its own request). The write (`sync_request`) then reads one part at a time.

Where: `<storage dir>/gallery_delta/<partition>.parts/<run id>/part-NNNNN.pickle`, beside the pickle of the
handle (resources/io_manager.py). Who deletes it: the IO manager's retention (the directory goes with the
handle once no step of the run still reads the plan; a failed write keeps both, which is what "re-execute
from failure" and the run retries load); a later run of gallery_delta for the same partition replaces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from operator import itemgetter
from pathlib import Path

import pandas as pd

from nacento_pipeline.core.delta.model import DeltaRequest, cut_request
from nacento_pipeline.magento.gallery import plan as gallery_plan
from nacento_pipeline.magento.gallery.plan import GalleryPlan, PlannedChunk
from nacento_pipeline.storage.plan_parts import MappedParts, StoredParts, write_parts


def _frameless(request: DeltaRequest) -> DeltaRequest:
    """The request's settings (mode, batch key and time, flags) with empty frames.

    That is what the plan itself still reads once its chunks' requests are stored with them.
    """

    def empty(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        return None if frame is None else frame.iloc[0:0]

    return replace(
        request,
        images=request.images.iloc[0:0],
        etags=request.etags.iloc[0:0],
        payload_values=request.payload_values.iloc[0:0],
        rejections=empty(request.rejections),
        store_values=empty(request.store_values),
        role_scope=empty(request.role_scope),
    )


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
    """The plan with its chunks written into `directory` (replaced if it exists) and read back lazily."""
    if isinstance(plan.stored, StoredParts) and Path(plan.stored.directory) == directory:
        return plan  # already there
    per_part = max(1, gallery_plan.PLAN_GROUP_SKUS // max(1, plan.chunk_size))  # a planned group's worth
    stored = write_parts(_pairs(plan, per_part), directory, per_part, size=_pair_skus)
    return replace(
        plan, request=_frameless(plan.request), chunks=MappedParts(stored, itemgetter(1)), stored=stored
    )
