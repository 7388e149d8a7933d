"""Delta step 3: the store-0 roles the batch sets, where they change (pure)."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.context import DeltaContext, changed_roles, managed_roles
from nacento_pipeline.core.delta.images import usable_images
from nacento_pipeline.core.frames import NO_SELECTION, ROLE_COLUMNS, empty_frame


def role_plan(
    context: DeltaContext, images: pd.DataFrame, planned: pd.DataFrame, blocked: set[str]
) -> pd.DataFrame:
    """Managed store-0 roles: no_selection unless the last payload image (highest seq) carrying it sets it.

    Skipped for blocked SKUs (see `role_blocked_skus`).
    """
    usable = usable_images(images)
    eligible = usable[~usable["sku"].isin(blocked)][["sku", "entity_id"]].drop_duplicates("sku")
    if eligible.empty:
        return empty_frame(ROLE_COLUMNS)
    of_eligible = pd.Index(eligible["sku"]).get_indexer(planned["sku"]) >= 0  # SKUs unique: an index lookup
    carried = planned[of_eligible & (planned["roles"] != "")][["entity_id", "roles", "seq", "target_value"]]
    carried = carried.assign(role=carried["roles"].str.split("|")).explode("role")
    carried = carried[carried["role"].isin(context.role_codes)]
    last = carried.sort_values("seq").drop_duplicates(["entity_id", "role"], keep="last")
    grid = eligible.merge(managed_roles(context, eligible["sku"]), on="sku")
    grid = grid.merge(last[["entity_id", "role", "target_value"]], on=["entity_id", "role"], how="left")
    grid["new_value"] = grid["target_value"].fillna(NO_SELECTION).astype(str)
    grid["store_id"] = 0
    return changed_roles(context, grid)
