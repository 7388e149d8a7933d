"""ETag delta: what a batch changes in Magento's galleries and roles, computed from frames (pure).

Every per-SKU rule lives in the step modules beside it, images (1) to results (9), as set-based pandas
work; the writer only executes the resulting plan: the connector's rules (validation, ETag comparison, stale
batches, path variants) and what Magento itself does around a gallery change (one media_gallery row per
product and path, removal with its roles, store-level rows, role labels, positions after the maximum). The
frames are those of `core.delta.model` (the model) and `core.frames`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from nacento_pipeline.core.delta import actions as delta_actions
from nacento_pipeline.core.delta import gallery as delta_gallery
from nacento_pipeline.core.delta import hidden as delta_hidden
from nacento_pipeline.core.delta import images as delta_images
from nacento_pipeline.core.delta import labels as delta_labels
from nacento_pipeline.core.delta import removals as delta_removals
from nacento_pipeline.core.delta import results as delta_results
from nacento_pipeline.core.delta import role_plan as delta_role_plan
from nacento_pipeline.core.delta import store_views as delta_store_views
from nacento_pipeline.core.delta.columns import join_warnings
from nacento_pipeline.core.delta.context import delta_context, merge_role_rows
from nacento_pipeline.core.delta.model import (
    PAYLOAD_VALUE_COLUMNS,
    DeltaRequest,
    GalleryDelta,
    MagentoState,
    to_utc_naive,
)
from nacento_pipeline.core.delta.modes import DEFAULT_SYNC_MODE
from nacento_pipeline.core.frames import empty_frame


def compute_delta(
    images: pd.DataFrame,
    products: pd.DataFrame,
    gallery: pd.DataFrame,
    roles: pd.DataFrame,
    etags: pd.DataFrame,
    *,
    invalid_skus: Iterable[str] = (),
    payload_values: pd.DataFrame | None = None,
    mode: str = DEFAULT_SYNC_MODE,
    batch_time: datetime | None = None,
    sync_state: pd.DataFrame | None = None,
    force: bool = False,
    rejections: pd.DataFrame | None = None,
    batch_key: str | None = None,
    store_values: pd.DataFrame | None = None,
    role_scope: pd.DataFrame | None = None,
    store_state: pd.DataFrame | None = None,
    stores: dict[str, int] | None = None,
) -> GalleryDelta:
    """The delta of a batch (or a chunk of it) against the current state of its products.

    `batch_time`/`batch_key` against `sync_state` decide staleness (see `core.delta.images.stale_images`);
    `force` replays. `store_state` holds the products' store-level value rows and `stores` maps store codes to
    ids.
    """
    request = DeltaRequest(
        images=images,
        etags=etags,
        invalid_skus=frozenset(invalid_skus),
        payload_values=payload_values if payload_values is not None else empty_frame(PAYLOAD_VALUE_COLUMNS),
        mode=mode,
        batch_time=to_utc_naive(batch_time),
        force=force,
        rejections=rejections,
        batch_key=batch_key,
        store_values=store_values,
        role_scope=role_scope,
    )
    state = MagentoState(products, gallery, roles, sync_state, store_state, stores or {})
    return delta_for(request, state)


def delta_for(request: DeltaRequest, state: MagentoState) -> GalleryDelta:
    """The delta of a request against Magento's state (the one entry point the engine and writer use).

    The steps run in order over whole frames (no per-image Python loops); each returns its frame and the
    warnings it raises, which the delta lists in step order.
    """
    context, role_warnings = delta_context(request, state)
    images, image_warnings = delta_images.batch_images(context)
    usable = (images["error"] == "") & ~images["stale"]
    valid = usable & images["exists"]
    gallery, extra_value_rows = delta_gallery.current_gallery(
        context, set(images.loc[usable, "entity_id"].tolist())
    )
    blocked = delta_images.role_blocked_skus(context, images)
    planned = delta_gallery.inherit_unset(
        context, delta_gallery.matched_images(images[valid], gallery), gallery
    )
    role_plan = delta_role_plan.role_plan(context, images, planned, blocked)
    planned = delta_actions.image_actions(planned, role_plan)
    sku_of = images[usable].drop_duplicates("entity_id").set_index("entity_id")["sku"]
    removed, kept_warnings = delta_removals.removals(context, images, planned, gallery, blocked)
    roles = delta_removals.with_removal_roles(context, role_plan, removed, sku_of)
    store_rows, store_warnings = delta_store_views.store_rows(context, planned)
    store_writes = delta_store_views.store_writes(store_rows)
    roles = merge_role_rows(roles, delta_store_views.store_roles(context, store_rows))
    roles = merge_role_rows(
        roles, delta_labels.label_plan(context, images, planned, roles, blocked, store_writes)
    )
    hidden_warnings = delta_hidden.hidden_by_store_views(context, planned, roles, store_writes)
    items = delta_results.delta_items(images[~valid], planned, removed, sku_of)
    return GalleryDelta(
        items=items,
        roles=roles,
        sku_results=delta_results.sku_results(context, images, items, roles, store_writes, kept_warnings),
        warnings=join_warnings(
            (role_warnings, image_warnings, kept_warnings, store_warnings, hidden_warnings)
        ),
        request=request,
        store_values=store_writes,
        unknown_skus=tuple(dict.fromkeys(images.loc[images["unknown_sku"], "sku"])),
        extra_value_rows=extra_value_rows,
    )
