"""Delta step 9: the result frames, one row per image action and one per SKU (pure)."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.columns import as_bool, as_int
from nacento_pipeline.core.delta.context import DeltaContext
from nacento_pipeline.core.delta.model import rejected_only_skus, text_column
from nacento_pipeline.core.frames import DELTA_ACTIONS, DELTA_COLUMNS, SKU_RESULT_COLUMNS, empty_frame


def delta_items(
    rest: pd.DataFrame, planned: pd.DataFrame, removed: pd.DataFrame | None, sku_of: pd.Series
) -> pd.DataFrame:
    """DELTA_COLUMNS rows: images not written (`rest`), planned images, then removals."""
    parts = []
    if len(rest):
        parts.append(
            rest.assign(
                stored_etag="",
                value_id=0,
                record_id=0,
                meta_changed=False,
                etag_changed=False,
                split=False,
                shared=False,
                position=as_int(rest["position"]),
            )
        )
    if len(planned):
        parts.append(planned)
    if removed is not None and len(removed):
        parts.append(
            pd.DataFrame(
                {
                    "sku": removed["entity_id"].map(sku_of).astype(str),
                    "value": removed["canonical"],
                    "entity_id": removed["entity_id"],
                    "action": removed["action"],
                    "reason": removed["reason"],
                    "label": text_column(removed["cur_label"]),
                    "position": as_int(removed["cur_position"]),
                    "disabled": as_int(removed["cur_disabled"]).astype(bool),
                    "roles": "",
                    "etag": "",
                    "stored_etag": removed["stored_etag"],
                    "value_id": removed["value_id"],
                    "record_id": removed["record_id"],
                    "meta_changed": False,
                    "etag_changed": False,
                    "split": False,
                    "shared": as_int(removed["links"], 1) > 1,
                }
            )
        )
    if not parts:
        return empty_frame(DELTA_COLUMNS)
    items = pd.concat([p[list(DELTA_COLUMNS)] for p in parts], ignore_index=True)
    for column in ("entity_id", "position", "value_id", "record_id"):
        items[column] = as_int(items[column])
    for column in ("disabled", "meta_changed", "etag_changed", "split", "shared"):
        items[column] = as_bool(items[column])
    for column in ("sku", "value", "action", "reason", "label", "roles", "etag", "stored_etag"):
        items[column] = text_column(items[column])
    return items


def sku_results(
    context: DeltaContext,
    images: pd.DataFrame,
    items: pd.DataFrame,
    role_plan: pd.DataFrame,
    store_writes: pd.DataFrame,
    kept_for_store_roles: pd.DataFrame,
) -> pd.DataFrame:
    """SKU_RESULT_COLUMNS: per SKU, its counts per action, status and message.

    `kept_for_store_roles` has one row (sku) per image kept because a store view's role holds it.
    """
    request = context.request
    first = images.drop_duplicates("sku", keep="first").set_index("sku")
    skus = list(dict.fromkeys(images["sku"]))
    rejected_only = rejected_only_skus(request.rejections, set(skus))
    out = pd.DataFrame({"sku": skus + rejected_only})
    out["entity_id"] = out["sku"].map(first["entity_id"]).fillna(0).astype("int64")
    counts = items.groupby(["sku", "action"]).size().unstack(fill_value=0) if len(items) else pd.DataFrame()
    for action in DELTA_ACTIONS:
        column = "deduped_path_variants" if action == "deduped" else action
        found = counts[action] if action in counts.columns else pd.Series(dtype="int64")
        out[column] = out["sku"].map(found).fillna(0).astype("int64")
    rejections = request.rejections
    if rejections is not None and len(rejections):
        per_sku = rejections[rejections["severity"] == "error"].groupby("sku").size()
        out["rejected"] = out["sku"].map(per_sku).fillna(0).astype("int64")
    else:
        out["rejected"] = 0
    roles_only = role_plan[role_plan["role"].isin(context.role_codes)]
    out["roles_assigned"] = (
        out["entity_id"].map(roles_only.groupby("entity_id").size()).fillna(0).astype("int64")
    )
    splits = items[items["split"]].groupby("sku").size() if len(items) else pd.Series(dtype="int64")
    out["split_shared_rows"] = out["sku"].map(splits).fillna(0).astype("int64")
    stored = store_writes.groupby("sku").size() if len(store_writes) else pd.Series(dtype="int64")
    out["store_values"] = out["sku"].map(stored).fillna(0).astype("int64")
    out.loc[out["sku"].isin(rejected_only), "entity_id"] = 0

    out["status"] = "ok"
    out["message"] = ""
    is_error = out["sku"].map(first["error"]).fillna("") != ""
    out.loc[is_error, "status"] = "error"
    out.loc[is_error, "message"] = out.loc[is_error, "sku"].map(first["error"])
    is_stale = out["sku"].map(first["stale"]).fillna(False).astype(bool)
    out.loc[is_stale, "status"] = "stale"
    out.loc[is_stale, "message"] = out.loc[is_stale, "sku"].map(first["stale_reason"])
    if rejected_only:
        errors = rejections[rejections["severity"] == "error"]  # type: ignore[index]
        reasons = errors.drop_duplicates("sku").set_index("sku")["reason"]
        mask = out["sku"].isin(rejected_only)
        out.loc[mask, "status"] = "error"
        out.loc[mask, "message"] = "no valid image: " + out.loc[mask, "sku"].map(reasons).astype(str)
    ok = out["status"] == "ok"
    blocked = ok & (out["sku"].isin(request.invalid_skus) | (out["invalid"] > 0))
    out.loc[blocked, "message"] = (
        "role sync skipped: an image of this SKU was rejected or is missing in storage"
    )
    kept = kept_for_store_roles.groupby("sku").size()
    warned = ok & (out["message"] == "") & out["sku"].isin(kept.index)
    out.loc[warned, "message"] = (
        out.loc[warned, "sku"].map(kept).astype(str)
        + " image(s) kept: a role in a store view (Magento's DeleteValidator)"
    )
    return out[list(SKU_RESULT_COLUMNS)].reset_index(drop=True)
