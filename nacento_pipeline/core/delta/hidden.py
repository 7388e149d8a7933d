"""Delta step 8: what a store view would still hide of this batch's changes (pure)."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.columns import as_int, no_warnings, nullable_int
from nacento_pipeline.core.delta.context import DeltaContext
from nacento_pipeline.core.delta.model import text_column
from nacento_pipeline.core.frames import REJECTION_COLUMNS


def hidden_by_store_views(
    context: DeltaContext, planned: pd.DataFrame, roles: pd.DataFrame, store_writes: pd.DataFrame
) -> pd.DataFrame:
    """Warnings (store and field) for the changes of this batch a store-level row we did not write hides.

    Such rows override store 0 (Magento reads IFNULL(store, default)).
    """
    found = [
        frame
        for frame in (hidden_store_values(context, planned, store_writes), hidden_store_roles(context, roles))
        if len(frame)
    ]
    if not found:
        return no_warnings()
    hidden = pd.concat(found, ignore_index=True)
    store = (
        hidden["store_id"].astype("int64").map(context.store_code_of).fillna(hidden["store_id"].astype(str))
    )
    return pd.DataFrame(
        {
            "severity": "warning",
            "file": text_column(hidden["file"]),
            "line": as_int(hidden["line"]),
            "sku": text_column(hidden["sku"]),
            "field": "store_view",
            "value": store.astype(str),
            "reason": "hidden by store view "
            + store.map(repr)
            + ": a store-level value this batch did not set "
            "overrides the new " + hidden["what"].astype(str) + " there",
        }
    )[list(REJECTION_COLUMNS)]


def hidden_store_values(
    context: DeltaContext, planned: pd.DataFrame, store_writes: pd.DataFrame
) -> pd.DataFrame:
    """(sku, file, line, store_id, what) of label/position/disabled changes a store-level row hides."""
    current = context.state.store_values
    changed = planned[planned["matched"] & planned["meta_changed"]]
    if current is None or not len(current) or not len(changed):
        return pd.DataFrame()
    rows = pd.DataFrame(
        {
            "entity_id": as_int(current["entity_id"]),
            "value_id": as_int(current["value_id"]),
            "store_id": as_int(current["store_id"]),
            "s_label": current["label"].astype(object),
            "s_position": nullable_int(current["position"]),
            "s_disabled": as_int(current["disabled"]),
        }
    )
    both = changed.merge(rows, on=["entity_id", "value_id"], how="inner")
    if len(store_writes):
        ours = store_writes[["entity_id", "value", "store_id"]].assign(ours=True)
        both = both.merge(ours, on=["entity_id", "value", "store_id"], how="left")
        both = both[both["ours"].isna()]
    label_hidden = (
        both["s_label"].notna()
        & (text_column(both["cur_label"]) != both["label"])
        & (text_column(both["s_label"]) != both["label"])
    )
    position_hidden = (
        both["s_position"].notna()
        & (pd.to_numeric(both["cur_position"], errors="coerce").fillna(-1) != both["position"])
        & (both["s_position"].fillna(-1) != both["position"])
    )
    disabled_hidden = (as_int(both["cur_disabled"]) != both["disabled"].astype("int64")) & (
        both["s_disabled"] != both["disabled"].astype("int64")
    )
    parts = [
        pd.DataFrame(
            {
                "sku": part["sku"],
                "file": part["file"],
                "line": part["line"],
                "store_id": part["store_id"],
                "what": name + " of " + part["value"],
            }
        )
        for mask, name in (
            (label_hidden, "label"),
            (position_hidden, "position"),
            (disabled_hidden, "disabled"),
        )
        if len(part := both[mask])
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def hidden_store_roles(context: DeltaContext, roles: pd.DataFrame) -> pd.DataFrame:
    """(sku, file, line, store_id, what) of store-0 role changes a store-level role value hides."""
    role_changes = roles[(roles["store_id"] == 0) & roles["role"].isin(context.role_codes)]
    if not len(role_changes):
        return pd.DataFrame()
    role_state = context.role_state
    state = role_state[(role_state["store_id"] != 0) & role_state["role"].isin(context.role_codes)]
    over = role_changes.merge(state, on=["entity_id", "role"], how="inner", suffixes=("", "_store"))
    written = roles[roles["store_id"] != 0][["entity_id", "role", "store_id"]].assign(ours=True)
    over = over.merge(
        written,
        left_on=["entity_id", "role", "store_id_store"],
        right_on=["entity_id", "role", "store_id"],
        how="left",
        suffixes=("", "_w"),
    )
    over = over[over["ours"].isna() & (text_column(over["value"]) != text_column(over["new_value"]))]
    return pd.DataFrame(
        {
            "sku": over["sku"],
            "file": "",
            "line": 0,
            "store_id": over["store_id_store"],
            "what": "role " + over["role"],
        }
    )
