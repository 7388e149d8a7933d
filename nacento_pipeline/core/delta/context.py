"""What every delta step reads: the request, Magento's state, its typed role rows, the roles the batch names.

Also the role-row helpers several steps share (changed rows, merged plans, final values after a plan).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nacento_pipeline.core.delta.columns import as_int, require
from nacento_pipeline.core.delta.model import (
    GALLERY_COLUMNS,
    PAYLOAD_VALUE_COLUMNS,
    ROLE_STATE_COLUMNS,
    DeltaRequest,
    MagentoState,
    text_column,
)
from nacento_pipeline.core.frames import (
    IMAGE_COLUMNS,
    REJECTION_COLUMNS,
    ROLE_CODES,
    ROLE_COLUMNS,
    ROLE_SCOPE_COLUMNS,
    STORE_VALUE_COLUMNS,
    empty_frame,
)


@dataclass(frozen=True)
class DeltaContext:
    """The inputs of one delta computation, checked and typed once."""

    request: DeltaRequest
    state: MagentoState
    role_state: pd.DataFrame  # ROLE_STATE_COLUMNS typed, one row per (entity_id, role, store_id)
    role_codes: tuple[str, ...]
    custom_roles_named: pd.DataFrame  # (sku, role) of the shop's custom roles the batch names

    @property
    def store_code_of(self) -> dict[int, str]:
        """Store id -> store code."""
        return {sid: code for code, sid in self.state.stores.items()}

    def sku_of_entity(self) -> pd.Series:
        """entity_id -> SKU of the state's products."""
        return self.state.products.drop_duplicates("entity_id").set_index("entity_id")["sku"]

    def known_roles(self) -> pd.DataFrame:
        """Role rows of the shop's role attributes that name an image."""
        state = self.role_state
        return state[state["role"].isin(self.role_codes) & state["value"].notna()]


def delta_context(request: DeltaRequest, state: MagentoState) -> tuple[DeltaContext, pd.DataFrame]:
    """The context of a delta and the warnings about role names no role attribute of the shop has.

    Raises `DeltaInputError` when an input frame lacks a contract column.
    """
    require(request.images, IMAGE_COLUMNS, "images")
    require(state.products, ("sku", "entity_id"), "products")
    require(state.gallery, GALLERY_COLUMNS, "gallery")
    require(state.roles, ROLE_STATE_COLUMNS, "roles")
    require(request.etags, ("value", "exists", "etag"), "etags")
    require(request.payload_values, PAYLOAD_VALUE_COLUMNS, "payload_values")
    if request.store_values is not None:
        require(request.store_values, STORE_VALUE_COLUMNS, "store_values")
    if request.role_scope is not None:
        require(request.role_scope, ROLE_SCOPE_COLUMNS, "role_scope")
    role_codes = tuple(state.role_codes)
    custom_roles, warnings = named_custom_roles(request, role_codes)
    context = DeltaContext(request, state, typed_role_state(state.roles), role_codes, custom_roles)
    return context, warnings


def named_custom_roles(
    request: DeltaRequest, role_codes: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sku, role) of the shop's custom roles that the batch's images or store-level rows name.

    Custom roles are the media_image attributes besides the standard four. The names of no role of the shop
    are warned about (file, line), as Magento's import reports an unknown column, and ignored.
    """
    frames = [request.images[["sku", "roles", "file", "line"]]]
    if request.store_values is not None and len(request.store_values):
        frames.append(request.store_values[["sku", "roles", "file", "line"]])
    named = pd.concat(frames, ignore_index=True)
    named = named[text_column(named["roles"]) != ""]
    named = named.assign(role=text_column(named["roles"]).str.split("|")).explode("role")
    unknown = named[~named["role"].isin(role_codes)].drop_duplicates(["sku", "role", "file", "line"])
    warnings = empty_frame(REJECTION_COLUMNS)
    if len(unknown):
        warnings = pd.DataFrame(
            {
                "severity": "warning",
                "file": text_column(unknown["file"]),
                "line": as_int(unknown["line"]),
                "sku": text_column(unknown["sku"]),
                "field": "roles",
                "value": unknown["role"].astype(str),
                "reason": "role " + unknown["role"].map(repr) + " ignored: no media_image attribute of this "
                "Magento has that code",
            }
        )[list(REJECTION_COLUMNS)]
    custom = named[named["role"].isin(role_codes) & ~named["role"].isin(ROLE_CODES)]
    custom_roles = (
        pd.DataFrame({"sku": text_column(custom["sku"]), "role": custom["role"].astype(str)})
        .drop_duplicates()
        .reset_index(drop=True)
    )
    return custom_roles, warnings


def typed_role_state(roles: pd.DataFrame) -> pd.DataFrame:
    """ROLE_STATE_COLUMNS typed, one row per (entity_id, role, store_id)."""
    state = roles[list(ROLE_STATE_COLUMNS)].copy()
    state["entity_id"] = as_int(state["entity_id"])
    state["store_id"] = as_int(state["store_id"])
    state["role"] = text_column(state["role"])
    state["value"] = state["value"].astype(object).where(state["value"].notna(), None)
    return state.drop_duplicates(["entity_id", "role", "store_id"], keep="first").reset_index(drop=True)


def managed_roles(context: DeltaContext, skus: pd.Series) -> pd.DataFrame:
    """(sku, role) pairs the batch manages.

    These are the standard roles the shop has and the custom ones the batch names for the SKU (a custom role
    no image of the batch names is left as it is), unless the SKU's role scope is limited.
    """
    standard = [c for c in context.role_codes if c in ROLE_CODES]
    grid = pd.DataFrame({"sku": skus.unique()}).merge(pd.DataFrame({"role": standard}), how="cross")
    named = context.custom_roles_named
    grid = pd.concat([grid, named[named["sku"].isin(set(grid["sku"]))]], ignore_index=True)
    scope = context.request.role_scope
    if scope is None or scope.empty:
        return grid
    scope = scope.drop_duplicates("sku", keep="last")
    limited = dict(zip(text_column(scope["sku"]), text_column(scope["managed_roles"]), strict=True))
    allowed = [
        sku not in limited or role in limited[sku].split("|")
        for sku, role in zip(grid["sku"], grid["role"], strict=True)
    ]
    return grid[allowed]


def changed_roles(context: DeltaContext, wanted: pd.DataFrame) -> pd.DataFrame:
    """Rows of `wanted` (sku, entity_id, role, store_id, new_value) whose value differs from Magento's."""
    if wanted.empty:
        return empty_frame(ROLE_COLUMNS)
    state = context.role_state.assign(has_row=True)
    grid = wanted.merge(state, on=["entity_id", "role", "store_id"], how="left")
    grid["old_value"] = text_column(grid["value"])
    has_row = grid["has_row"].notna()
    new = grid["new_value"].astype(object)
    deleting = new.isna()
    changed = (deleting & has_row) | (
        ~deleting & (~has_row | grid["value"].isna() | (grid["old_value"] != new))
    )
    plan = grid.loc[changed, list(ROLE_COLUMNS)].reset_index(drop=True)
    plan["entity_id"] = plan["entity_id"].astype("int64")
    plan["store_id"] = plan["store_id"].astype("int64")
    plan["new_value"] = plan["new_value"].astype(object).where(plan["new_value"].notna(), None)
    return plan


def merge_role_rows(base: pd.DataFrame, override: pd.DataFrame) -> pd.DataFrame:
    """Role plan rows of both; for the same (entity_id, role, store_id) the `override` row wins."""
    frames = [f for f in (base, override) if len(f)]
    if not frames:
        return empty_frame(ROLE_COLUMNS)
    both = pd.concat(frames, ignore_index=True)
    both = both.drop_duplicates(["entity_id", "role", "store_id"], keep="last").reset_index(drop=True)
    both["new_value"] = both["new_value"].astype(object).where(both["new_value"].notna(), None)
    return both[list(ROLE_COLUMNS)]


def final_values(context: DeltaContext, plan: pd.DataFrame, store_id: int | None) -> pd.DataFrame:
    """(entity_id, role, store_id, final) role values after the plan: planned value, else Magento's."""
    role_state = context.role_state
    state = role_state[role_state["role"].isin(context.role_codes)][
        ["entity_id", "role", "store_id", "value"]
    ]
    planned = plan[plan["role"].isin(context.role_codes)][["entity_id", "role", "store_id", "new_value"]]
    both = state.merge(planned, on=["entity_id", "role", "store_id"], how="outer", indicator=True)
    in_plan = both["_merge"] != "left_only"
    both["final"] = both["new_value"].astype(object).where(in_plan, both["value"].astype(object))
    deleted = plan[plan["role"].isin(context.role_codes) & plan["new_value"].isna()][
        ["entity_id", "role", "store_id"]
    ]
    if len(deleted):
        both = both.merge(deleted.assign(gone=True), on=["entity_id", "role", "store_id"], how="left")
        both = both[both["gone"].isna()]
    both = both[both["final"].notna()]
    if store_id is not None:
        both = both[both["store_id"] == store_id].drop(columns=["store_id"])
        return both[["entity_id", "role", "final"]]
    both = both[both["store_id"] != 0]
    return both[["entity_id", "role", "store_id", "final"]]
