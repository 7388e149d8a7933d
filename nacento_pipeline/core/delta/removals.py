"""Delta step 5: removals and what they do to the roles (pure).

Removals are the legacy variants of payload paths and, in replace modes, the paths not in the payload.
"""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.columns import no_warnings
from nacento_pipeline.core.delta.context import DeltaContext, changed_roles, merge_role_rows
from nacento_pipeline.core.delta.model import text_column
from nacento_pipeline.core.delta.modes import APPEND, REPLACE_OWNED
from nacento_pipeline.core.delta.roles import DELETE_GUARDED_ROLES
from nacento_pipeline.core.frames import NO_SELECTION, REJECTION_COLUMNS, ROLE_LABEL_CODES
from nacento_pipeline.core.paths import canonical_values


def removals(
    context: DeltaContext,
    images: pd.DataFrame,
    planned: pd.DataFrame,
    gallery: pd.DataFrame,
    blocked: set[str],
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """The gallery rows to remove (None: none) and the warnings about images kept for a store view's role."""
    wanted_pairs = planned[["entity_id", "value"]].rename(columns={"value": "canonical"}).drop_duplicates()
    extras = gallery[~gallery["keeper"]].merge(wanted_pairs, on=["entity_id", "canonical"], how="inner")
    keeper_spelling = gallery[gallery["keeper"]][["entity_id", "canonical", "stored_value"]].rename(
        columns={"stored_value": "kept_value"}
    )
    extras = extras.merge(keeper_spelling, on=["entity_id", "canonical"], how="left").assign(
        action="deduped",
        reason="path variant " + extras["stored_value"].map(repr) + " collapsed into the canonical row",
    )
    removed = [extras]
    warnings = no_warnings()
    if context.request.mode != APPEND:
        purged, warnings = purges(context, images, gallery, blocked)
        removed.append(purged)
    removed = [r for r in removed if len(r)]
    return (pd.concat(removed, ignore_index=True) if removed else None), warnings


def purges(
    context: DeltaContext, images: pd.DataFrame, gallery: pd.DataFrame, blocked: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of products with at least one valid image whose path the payload never named.

    In replace_owned mode only rows this pipeline (or the PHP connector) wrote. A path the payload named is
    never purged, even when its file is missing. Purge and role freeze are decided together: a SKU whose
    roles are frozen (`blocked`) keeps the images its roles name, so no role points outside the gallery
    and none is wiped; elsewhere roles naming a purged image are cleared with it (`with_removal_roles`).
    """
    request = context.request
    valid = images[(images["error"] == "") & ~images["stale"] & images["exists"]]
    entities = set(valid["entity_id"].tolist())
    if not entities:
        return gallery.iloc[0:0], no_warnings()
    payload = pd.concat([request.payload_values[["sku", "value"]].astype(str), images[["sku", "value"]]])
    payload["canonical"] = canonical_values(payload["value"])
    payload = payload.merge(images[["sku", "entity_id"]].drop_duplicates("sku"), on="sku", how="inner")[
        ["entity_id", "canonical"]
    ].drop_duplicates()
    candidates = gallery[gallery["entity_id"].isin(entities)]
    if request.mode == REPLACE_OWNED:
        candidates = candidates[candidates["owned"]]
    marked = candidates.merge(payload.assign(named=True), on=["entity_id", "canonical"], how="left")
    purged = marked[marked["named"].isna()].drop(columns=["named"])
    frozen = set(images.loc[images["sku"].isin(blocked), "entity_id"])
    if frozen and len(purged):
        state = context.known_roles()
        held = set(zip(state["entity_id"], canonical_values(state["value"]), strict=True))
        keep = [
            e in frozen and (e, c) in held
            for e, c in zip(purged["entity_id"], purged["canonical"], strict=True)
        ]
        purged = purged[~pd.Series(keep, index=purged.index, dtype=bool)]
    reason = f"not in the payload ({request.mode} mode)"
    removable, warnings = removable_purges(context, purged)
    return removable.assign(action="purged", reason=reason, kept_value=""), warnings


def removable_purges(context: DeltaContext, purged: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    r"""The purges Magento 2.4.8 would carry out.

    As `Catalog\Model\Product\Gallery\DeleteValidator::validate` decides, run by `CreateHandler::execute`
    before any removal: a product in more than one store view keeps an image that a role holds in a store
    other than the one saved (ours: the default scope, so any store view), the roles being
    `Gallery::getProductImages`' three (image, small_image, thumbnail), the value compared as stored. The
    product is taken to be in every store view (catalog_product_website is not read). Each image kept is a
    warning naming the SKU, store view and role (one per image); with the request's `remove_store_role_images`
    every purge is carried out, as before.
    """
    if context.request.remove_store_role_images or purged.empty or len(context.state.stores) < 2:
        return purged, no_warnings()
    state = context.role_state
    held = state[state["role"].isin(DELETE_GUARDED_ROLES) & (state["store_id"] != 0) & state["value"].notna()]
    held = held.assign(stored_value=text_column(held["value"]))[
        ["entity_id", "stored_value", "role", "store_id"]
    ]
    hit = purged[["entity_id", "stored_value"]].merge(held, on=["entity_id", "stored_value"], how="inner")
    if hit.empty:
        return purged, no_warnings()
    hit = hit.sort_values(["entity_id", "stored_value", "store_id", "role"], kind="stable")
    first = hit.drop_duplicates(["entity_id", "stored_value"])
    warnings = pd.DataFrame(
        {
            "severity": "warning",
            "file": "",
            "line": 0,
            "sku": first["entity_id"].map(context.sku_of_entity()).astype(str),
            "field": "roles",
            "value": first["stored_value"].str.slice(0, 200),
            "reason": "not removed: it is the "
            + first["role"]
            + " image of store view "
            + first["store_id"].map(context.store_code_of).fillna(first["store_id"].astype(str)).map(repr)
            + " and Magento refuses to remove it (DeleteValidator); "
            "NACENTO_REMOVE_STORE_ROLE_IMAGES=true removes it anyway",
        }
    )[list(REJECTION_COLUMNS)].reset_index(drop=True)
    keys = set(zip(hit["entity_id"], hit["stored_value"], strict=True))
    kept = [k in keys for k in zip(purged["entity_id"], purged["stored_value"], strict=True)]
    return purged[~pd.Series(kept, index=purged.index, dtype=bool)], warnings


def with_removal_roles(
    context: DeltaContext, plan: pd.DataFrame, removed: pd.DataFrame | None, sku_of: pd.Series
) -> pd.DataFrame:
    """What Magento's admin does to the roles of a removed image.

    Store-0 roles naming it become no_selection (their `*_label` is emptied), store-level roles naming it are
    deleted; roles naming a collapsed path variant follow the kept row's spelling.
    """
    if removed is None or removed.empty:
        return plan
    state = context.known_roles()
    state = state.assign(stored=text_column(state["value"]))
    gone = removed[["entity_id", "stored_value", "action", "kept_value"]]
    hit = state.merge(
        gone, left_on=["entity_id", "stored"], right_on=["entity_id", "stored_value"], how="inner"
    )
    if hit.empty:
        return plan
    purged = hit["action"] == "purged"
    hit["new_value"] = hit["kept_value"].astype(object)
    hit.loc[purged & (hit["store_id"] == 0), "new_value"] = NO_SELECTION
    hit.loc[purged & (hit["store_id"] != 0), "new_value"] = None
    hit["sku"] = hit["entity_id"].map(sku_of).astype(str)
    rows = [hit[["sku", "entity_id", "role", "store_id", "new_value"]]]
    cleared = hit[purged & (hit["store_id"] == 0) & hit["role"].isin(list(ROLE_LABEL_CODES))]
    if len(cleared):
        rows.append(
            cleared.assign(role=cleared["role"].map(ROLE_LABEL_CODES), new_value=None)[
                ["sku", "entity_id", "role", "store_id", "new_value"]
            ]
        )
    effects = changed_roles(context, pd.concat(rows, ignore_index=True))
    # The plan's own decision for a (product, role, store) wins over a removal's side effect.
    return merge_role_rows(effects, plan)
