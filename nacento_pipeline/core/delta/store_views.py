"""Delta step 6: the store-level rows the batch sets, only where they differ from Magento's (pure).

Store-level rows are labels, positions, disabled flags and roles per store view.
"""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.columns import (
    as_int,
    label_or_none,
    no_warnings,
    nullable_int,
    shifted_positions,
)
from nacento_pipeline.core.delta.context import DeltaContext, changed_roles
from nacento_pipeline.core.delta.model import text_column
from nacento_pipeline.core.frames import REJECTION_COLUMNS, STORE_WRITE_COLUMNS, empty_frame


def store_rows(context: DeltaContext, planned: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The batch's store-level rows of planned images in known store views, with Magento's current rows.

    Each row comes with Magento's current row; also the errors about unknown store codes (those rows are not
    written).
    """
    source = context.request.store_values
    if source is None or source.empty or planned.empty:
        return pd.DataFrame(), no_warnings()
    known, warnings = known_store_rows(context, source, planned)
    base = planned[["sku", "value", "entity_id", "value_id", "disabled", "position", "target_value"]].rename(
        columns={"disabled": "base_disabled", "position": "base_position"}
    )
    rows = known.merge(base, on=["sku", "value"], how="inner")
    if rows.empty:
        return pd.DataFrame(), warnings
    rows["store_id"] = rows["store_id"].astype("int64")
    return with_current_store_rows(context, rows), warnings


def known_store_rows(
    context: DeltaContext, source: pd.DataFrame, planned: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The batch's store-level rows of store codes Magento knows, with their store_id; others are rejected.

    One row per SKU, path and store (the last one), positions shifted as their SKU's images.
    """
    rows = source.copy()
    rows["sku"], rows["value"], rows["store"] = (
        text_column(rows["sku"]),
        text_column(rows["value"]),
        text_column(rows["store"]),
    )
    rows = rows.sort_values("seq", kind="stable").drop_duplicates(["sku", "value", "store"], keep="last")
    shifts = planned.drop_duplicates("sku").set_index("sku")["position_shift"]
    rows["position"] = shifted_positions(rows["sku"], rows["position"], shifts)
    rows["store_id"] = rows["store"].map(context.state.stores)
    unknown = rows["store_id"].isna()
    warnings = no_warnings()
    if unknown.any():
        bad = rows[unknown]
        warnings = pd.DataFrame(
            {
                "severity": "error",
                "file": text_column(bad["file"]),
                "line": as_int(bad["line"]),
                "sku": bad["sku"],
                "field": "store",
                "value": bad["store"].str.slice(0, 200),
                "reason": "unknown store code " + bad["store"].map(repr) + " (not in Magento's store table): "
                "this store-level value is not written",
            }
        )[list(REJECTION_COLUMNS)]
    return rows[~unknown], warnings


def with_current_store_rows(context: DeltaContext, rows: pd.DataFrame) -> pd.DataFrame:
    """Magento's store-level row of each (product, image, store): record_id (0 when none) and cur_* fields."""
    current = context.state.store_values
    if current is not None and len(current):
        current = pd.DataFrame(
            {
                "entity_id": as_int(current["entity_id"]),
                "value_id": as_int(current["value_id"]),
                "store_id": as_int(current["store_id"]),
                "record_id": as_int(current["record_id"]),
                "cur_label": current["label"].astype(object),
                "cur_position": nullable_int(current["position"]),
                "cur_disabled": as_int(current["disabled"]),
            }
        ).drop_duplicates(["entity_id", "value_id", "store_id"])
        rows = rows.merge(current, on=["entity_id", "value_id", "store_id"], how="left")
    else:
        rows = rows.assign(record_id=pd.NA, cur_label=None, cur_position=pd.NA, cur_disabled=pd.NA)
    rows["has_row"] = rows["record_id"].notna() & (rows["value_id"] > 0)
    rows["record_id"] = as_int(rows["record_id"]).where(rows["has_row"], 0)
    return rows


def store_writes(rows: pd.DataFrame) -> pd.DataFrame:
    """The store-level rows to write (STORE_WRITE_COLUMNS): fields the batch gives, the others kept.

    A new row takes the default's disabled flag and position: Magento's import writes a store row's position,
    the one shown (`MediaGalleryProcessor::updateMediaGalleryField`, `prepareMediaGalleryValueData`). Rows
    equal to Magento's are left out.
    """
    if rows.empty:
        return empty_frame(STORE_WRITE_COLUMNS)
    has_row = rows["has_row"]
    label_given = rows["label"].notna()
    rows["w_label"] = (
        rows["label"].astype(object).where(label_given, rows["cur_label"].astype(object).where(has_row, None))
    )
    rows["w_label"] = label_or_none(rows["w_label"].where(rows["w_label"].notna(), ""))
    position_given = nullable_int(rows["position"])
    kept = nullable_int(rows["cur_position"]).where(has_row, nullable_int(rows["base_position"]))
    rows["w_position"] = position_given.where(position_given.notna(), kept)
    disabled_given = rows["disabled"].astype("boolean")
    fallback = as_int(rows["cur_disabled"]).where(has_row, rows["base_disabled"].astype("int64"))
    rows["w_disabled"] = disabled_given.astype("Int64").fillna(fallback).astype("int64")
    same = has_row & (
        (text_column(rows["cur_label"]) == text_column(rows["w_label"]))
        & (nullable_int(rows["cur_position"]).fillna(-1) == rows["w_position"].fillna(-1))
        & (as_int(rows["cur_disabled"]) == rows["w_disabled"])
    )
    given_any = label_given | position_given.notna() | disabled_given.notna()
    writes = rows[given_any & ~same]
    return pd.DataFrame(
        {
            "sku": writes["sku"],
            "entity_id": writes["entity_id"].astype("int64"),
            "value": writes["value"],
            "store_id": writes["store_id"],
            "record_id": writes["record_id"],
            "label": writes["w_label"],
            "position": writes["w_position"].astype("Int64"),
            "disabled": writes["w_disabled"],
        }
    )[list(STORE_WRITE_COLUMNS)].reset_index(drop=True)


def store_roles(context: DeltaContext, rows: pd.DataFrame) -> pd.DataFrame:
    """Roles a store-level row gives its image in that store (the last row wins), where they change."""
    if rows.empty:
        return changed_roles(context, pd.DataFrame())
    carried = rows[text_column(rows["roles"]) != ""]
    carried = carried.assign(role=text_column(carried["roles"]).str.split("|")).explode("role")
    carried = carried[carried["role"].isin(context.role_codes)].sort_values("seq")
    carried = carried.drop_duplicates(["entity_id", "role", "store_id"], keep="last")
    wanted = carried[["sku", "entity_id", "role", "store_id"]].assign(new_value=carried["target_value"])
    return changed_roles(context, wanted)
