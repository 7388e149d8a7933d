"""Delta step 2: the products' current gallery and the valid images matched with it (pure).

The gallery comes with its keepers and path-variant duplicates; the matched images inherit the fields the
batch does not give.
"""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.columns import POSITION_MAX, POSITION_MIN, as_bool, as_int, normalize_etag
from nacento_pipeline.core.delta.context import DeltaContext
from nacento_pipeline.core.delta.model import text_column
from nacento_pipeline.core.frames import EXTRA_VALUE_ROW_COLUMNS


def current_gallery(context: DeltaContext, entity_ids: set[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The gallery rows of `entity_ids` typed, and the extra value rows the write deletes.

    The gallery rows carry `keeper` (the row a path's images are matched with); the extra value rows
    (EXTRA_VALUE_ROW_COLUMNS) are those of a (value_id, entity_id) pair beyond the one Magento shows.
    """
    source = context.state.gallery
    gallery = pd.DataFrame(
        {
            "entity_id": as_int(source["entity_id"]),
            "value_id": as_int(source["value_id"]),
            "stored_value": text_column(source["value"]),
            "canonical": text_column(source["canonical"]),
            "record_id": as_int(source["record_id"]),
            "cur_label": source["label"].astype(object),
            "cur_position": source["position"].astype(object),
            "cur_disabled": source["disabled"].astype(object),
            "stored_etag": normalize_etag(source["stored_etag"]),
            "owned": as_bool(source["owned"]),
            "links": as_int(source["links"], 1),
        }
    )
    gallery = gallery[gallery["entity_id"].isin(entity_ids)]
    # No unique key protects (value_id, entity_id, store 0): of several value rows of a pair, Magento shows
    # the last in position order (createBatchBaseSelect orders by position, ReadHandler keys the rows by
    # value_id); that one is kept, the others are deleted by the write.
    gallery = gallery.assign(_pos=pd.to_numeric(gallery["cur_position"], errors="coerce").fillna(-1))
    gallery = gallery.sort_values(["entity_id", "value_id", "_pos", "record_id"])
    extra = gallery.duplicated(["entity_id", "value_id"], keep="last") & (gallery["record_id"] > 0)
    extra_value_rows = pd.DataFrame(
        {
            "sku": gallery.loc[extra, "entity_id"].map(context.sku_of_entity()).astype(str),
            "entity_id": gallery.loc[extra, "entity_id"],
            "record_id": gallery.loc[extra, "record_id"],
        }
    )[list(EXTRA_VALUE_ROW_COLUMNS)].reset_index(drop=True)
    gallery = gallery.drop_duplicates(["entity_id", "value_id"], keep="last").drop(columns=["_pos"])
    gallery["is_canonical"] = gallery["stored_value"] == gallery["canonical"]
    # The canonical-form row wins over its legacy variant; then the oldest media_gallery row.
    gallery = gallery.sort_values(
        ["entity_id", "canonical", "is_canonical", "value_id"], ascending=[True, True, False, True]
    )
    gallery["keeper"] = ~gallery.duplicated(["entity_id", "canonical"], keep="first")
    return gallery.reset_index(drop=True), extra_value_rows


def matched_images(valid: pd.DataFrame, gallery: pd.DataFrame) -> pd.DataFrame:
    """Valid images joined with the product's own row for the same path (if any)."""
    keepers = gallery[gallery["keeper"]]
    planned = valid.merge(
        keepers.drop(columns=["keeper", "is_canonical"]),
        left_on=["entity_id", "value"],
        right_on=["entity_id", "canonical"],
        how="left",
    )
    planned["value_id"] = as_int(planned["value_id"])
    planned["record_id"] = as_int(planned["record_id"])
    planned["stored_etag"] = text_column(planned["stored_etag"])
    planned["matched"] = planned["canonical"].notna()
    planned["target_value"] = planned["stored_value"].where(planned["matched"], planned["value"])
    # A row the PHP connector shared between products: this product gets its own copy first.
    planned["split"] = planned["matched"] & (as_int(planned["links"], 1) > 1)
    planned["shared"] = planned["split"]
    return planned


def inherit_unset(context: DeltaContext, planned: pd.DataFrame, gallery: pd.DataFrame) -> pd.DataFrame:
    """Fields the batch does not give: kept from the existing image, or the defaults of a new one.

    An existing image keeps its label and disabled flag (Magento's native import changes only what the CSV
    says; a new image gets none and is enabled), and its position; new images without a position go after the
    product's maximum (current rows and positions given in the batch), in payload order, as Magento's import
    places them.
    """
    keep_label = planned["matched"] & ~planned["label_given"]
    planned.loc[keep_label, "label"] = text_column(planned.loc[keep_label, "cur_label"])
    keep_disabled = planned["matched"] & ~planned["disabled_given"]
    planned.loc[keep_disabled, "disabled"] = as_int(planned.loc[keep_disabled, "cur_disabled"]).astype(bool)
    given = planned["position"].notna()
    current = pd.to_numeric(planned["cur_position"], errors="coerce")
    keep = ~given & planned["matched"]
    planned.loc[keep, "position"] = current[keep].fillna(0).astype("int64")
    new = ~given & ~planned["matched"]
    if new.any():
        existing_max = (
            pd.to_numeric(gallery["cur_position"], errors="coerce").groupby(gallery["entity_id"]).max()
        )
        other = context.state.other_media
        if other is not None and len(
            other
        ):  # videos count (MediaGalleryProcessor::getLastMediaPositionPerProduct)
            videos_max = (
                pd.to_numeric(other["position"], errors="coerce").groupby(as_int(other["entity_id"])).max()
            )
            existing_max = pd.concat([existing_max, videos_max], axis=1).max(axis=1)
        batch_max = (
            planned.loc[given, "position"].astype("float64").groupby(planned.loc[given, "entity_id"]).max()
        )
        ceiling = pd.concat([existing_max, batch_max], axis=1).max(axis=1)
        rank = planned.loc[new].sort_values("seq").groupby("entity_id").cumcount() + 1
        base = planned.loc[new, "entity_id"].map(ceiling).fillna(0)
        planned.loc[new, "position"] = (base + rank.reindex(planned.index[new])).astype("int64")
    planned["position"] = as_int(planned["position"]).clip(lower=POSITION_MIN, upper=POSITION_MAX)
    return planned
