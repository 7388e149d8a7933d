"""Delta step 7: the storefront's alt text follows the role images' labels (pure)."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.columns import label_or_none
from nacento_pipeline.core.delta.context import DeltaContext, changed_roles, final_values, managed_roles
from nacento_pipeline.core.delta.images import usable_images
from nacento_pipeline.core.frames import NO_SELECTION, ROLE_COLUMNS, ROLE_LABEL_CODES, empty_frame
from nacento_pipeline.core.paths import canonical_values


def label_plan(
    context: DeltaContext,
    images: pd.DataFrame,
    planned: pd.DataFrame,
    roles: pd.DataFrame,
    blocked: set[str],
    store_writes: pd.DataFrame,
) -> pd.DataFrame:
    """`image_label`, `small_image_label`, `thumbnail_label` = the label of the role's image, per store.

    As the admin keeps them; NULL (row deleted) when the role is no_selection or the label is empty.
    Only for SKUs whose roles the batch manages and roles that name an image of the batch.
    """
    usable = usable_images(images)
    usable = usable[~usable["sku"].isin(blocked)]
    skus = usable[["sku", "entity_id"]].drop_duplicates("sku")
    if skus.empty:
        return empty_frame(ROLE_COLUMNS)
    managed = skus.merge(managed_roles(context, skus["sku"]), on="sku")
    managed = managed[managed["role"].isin(list(ROLE_LABEL_CODES))]
    final = final_values(context, roles, store_id=0)
    managed = managed.merge(final, on=["entity_id", "role"], how="left")
    labels = planned[["entity_id", "value", "label"]].rename(columns={"value": "canonical"})
    managed["canonical"] = canonical_values(managed["final"])
    managed = managed.merge(labels, on=["entity_id", "canonical"], how="left")
    unset = managed["final"].isna() | managed["final"].isin(["", NO_SELECTION])
    wanted = managed[unset | managed["label"].notna()].copy()
    wanted["new_value"] = label_or_none(wanted["label"].where(~unset[wanted.index], ""))
    wanted = wanted.assign(role=wanted["role"].map(ROLE_LABEL_CODES), store_id=0)
    rows = [wanted[["sku", "entity_id", "role", "store_id", "new_value"]]]
    if len(store_writes):
        rows.append(store_label_rows(context, store_writes, roles))
    return changed_roles(context, pd.concat(rows, ignore_index=True))


def store_label_rows(context: DeltaContext, store_writes: pd.DataFrame, roles: pd.DataFrame) -> pd.DataFrame:
    """A store-level label of an image that is a role's image in that store becomes the role's label there."""
    labelled = store_writes[store_writes["label"].notna()][["sku", "entity_id", "value", "store_id", "label"]]
    if labelled.empty:
        return pd.DataFrame(columns=["sku", "entity_id", "role", "store_id", "new_value"])
    per_store = final_values(context, roles, store_id=None)
    per_store = per_store[per_store["role"].isin(list(ROLE_LABEL_CODES))]
    per_store = per_store.assign(value=canonical_values(per_store["final"]))
    hit = labelled.merge(per_store, on=["entity_id", "value", "store_id"], how="inner")
    default = final_values(context, roles, store_id=0)
    default = default[default["role"].isin(list(ROLE_LABEL_CODES))].assign(
        value=lambda f: canonical_values(f["final"])
    )
    inherit = labelled.merge(default.drop(columns=["final"]), on=["entity_id", "value"], how="inner")
    overridden = per_store[["entity_id", "role", "store_id"]].assign(own=True)
    inherit = inherit.merge(overridden, on=["entity_id", "role", "store_id"], how="left")
    inherit = inherit[inherit["own"].isna()]
    both = pd.concat([hit, inherit], ignore_index=True)
    return pd.DataFrame(
        {
            "sku": both["sku"],
            "entity_id": both["entity_id"],
            "role": both["role"].map(ROLE_LABEL_CODES),
            "store_id": both["store_id"],
            "new_value": both["label"].astype(object),
        }
    )
