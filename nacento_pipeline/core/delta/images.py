"""Delta step 1: the batch's images with their product, staleness, storage state and status (pure).

The images frame carries `position_shift` (per SKU, see `position_shifts`) and `unknown_sku` for the later
steps; neither reaches the result's items.
"""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.columns import (
    as_bool,
    as_int,
    join_warnings,
    map_positions,
    normalize_etag,
    nullable_int,
    position_shifts,
    warning_rows,
)
from nacento_pipeline.core.delta.context import DeltaContext
from nacento_pipeline.core.delta.image_sanity import not_an_image_reasons
from nacento_pipeline.core.delta.model import text_column, to_utc_naive
from nacento_pipeline.core.paths import canonical_values


def batch_images(context: DeltaContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every image of the request with its product, staleness, storage state and status, and the warnings.

    The warnings are about duplicates and shifted positions.
    """
    images, warnings = typed_images(context)
    images = with_statuses(with_storage_state(context, stale_images(context, with_products(context, images))))
    return images, warnings


def typed_images(context: DeltaContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The request's images typed, the last occurrence of a (SKU, path) kept, positions mapped."""
    source = context.request.images
    images = pd.DataFrame(
        {
            "sku": text_column(source["sku"]),
            "value": text_column(source["value"]),
            "label": text_column(source["label"]),
            "label_given": source["label"].notna().to_numpy(),
            "position": nullable_int(source["position"]),
            "disabled": as_bool(source["disabled"]),
            "disabled_given": source["disabled"].notna().to_numpy(),
            "roles": text_column(source["roles"]),
            "file": text_column(source["file"]),
            "line": as_int(source["line"]),
            "seq": as_int(source["seq"]),
        }
    )
    images = images.sort_values("seq", kind="stable")
    duplicate = images.duplicated(["sku", "value"], keep="last")
    warnings = []
    if duplicate.any():
        warnings.append(
            warning_rows(
                images[duplicate],
                field_name="file_path",
                value=images.loc[duplicate, "value"],
                reason="same image twice for this SKU: the last occurrence wins",
            )
        )
        images = images[~duplicate]
    images = images.reset_index(drop=True)
    shifts = position_shifts(images, context.request.store_values)
    images["position"], shifted = map_positions(images, shifts)
    images["position_shift"] = images["sku"].map(shifts).fillna(0).astype("int64")
    warnings.append(shifted)
    return images, join_warnings(warnings)


def with_products(context: DeltaContext, images: pd.DataFrame) -> pd.DataFrame:
    """Each image's product (entity_id 0 and an error when its SKU is unknown, ambiguous or a near-miss).

    `unknown_sku` marks the images of SKUs Magento does not have.
    """
    products = context.state.products.copy()
    products["sku"] = text_column(products["sku"])
    products["entity_id"] = as_int(products["entity_id"])
    products["error"] = text_column(products["error"]) if "error" in products else ""
    products = products.drop_duplicates("sku", keep="first")[["sku", "entity_id", "error"]]
    images = images.merge(products, on="sku", how="left")
    images["entity_id"] = as_int(images["entity_id"])
    unknown = (images["error"].isna() | (images["entity_id"] == 0)) & (text_column(images["error"]) == "")
    images["error"] = text_column(images["error"])
    images.loc[unknown, "error"] = "unknown SKU " + images.loc[unknown, "sku"].map(repr)
    images.loc[images["error"] != "", "entity_id"] = 0
    images["unknown_sku"] = unknown.to_numpy()
    return images


def with_storage_state(context: DeltaContext, images: pd.DataFrame) -> pd.DataFrame:
    """Each image's object in storage: exists (and is an image by its metadata) and its ETag."""
    request_etags = context.request.etags
    etags = request_etags[["value", "exists", "etag"]].copy()
    etags["value"] = text_column(etags["value"])
    etags["etag"] = normalize_etag(etags["etag"])
    # An object whose metadata says it is no image counts as missing, with its own reason.
    size = request_etags["size"] if "size" in request_etags else pd.Series(pd.NA, index=etags.index)
    kind = (
        request_etags["content_type"] if "content_type" in request_etags else pd.Series("", index=etags.index)
    )
    etags["not_image"] = not_an_image_reasons(size, kind).where(as_bool(etags["exists"]), "")
    etags = etags.drop_duplicates("value", keep="last")
    images = images.merge(etags, on="value", how="left")
    images["not_image"] = text_column(images["not_image"])
    images["media_clash"] = media_clashes(context, images)
    images["exists"] = as_bool(images["exists"]) & (images["not_image"] == "") & (images["media_clash"] == "")
    images["etag"] = text_column(images["etag"])
    return images


def media_clashes(context: DeltaContext, images: pd.DataFrame) -> pd.Series:
    """Per image, the media type of a gallery row of the same product and path that is no image, else "".

    Such a row is a video. The image is refused: a second row of the same file would be deleted by Magento's
    `Gallery::removeDuplicates` on the next product load, and it may be the video's.
    """
    other = context.state.other_media
    if other is None or other.empty or images.empty:
        return pd.Series("", index=images.index, dtype=object)
    other = pd.DataFrame(
        {
            "entity_id": as_int(other["entity_id"]),
            "value": canonical_values(other["value"]),
            "media_clash": text_column(other["media_type"]),
        }
    ).drop_duplicates(["entity_id", "value"])
    keyed = pd.DataFrame(
        {"entity_id": images["entity_id"].to_numpy(), "value": canonical_values(images["value"]).to_numpy()}
    )
    found = keyed.merge(other, on=["entity_id", "value"], how="left")["media_clash"]
    return pd.Series(found.fillna("").astype(str).to_numpy(), index=images.index, dtype=object)


def stale_images(context: DeltaContext, images: pd.DataFrame) -> pd.DataFrame:
    """Mark images of SKUs a newer batch already wrote: the stale-batch rule.

    Batches are ordered by drop time, then by batch key (plain string order) because S3's LastModified has
    1-second resolution and two batches dropped in the same second tie. So the outcome does not depend on
    which of the two runs first: the greater key wins. The same key at the same time is a re-run, never
    stale. Unknown times (either side) or, on a tie, an unknown key are never stale.
    """
    request = context.request
    images["stale"] = False
    images["stale_reason"] = ""
    state = context.state.sync_state
    if state is None or not len(state) or request.batch_time is None or request.force:
        return images
    last = state[["sku", "last_batch_time", "last_batch_key"]].copy()
    last["sku"] = text_column(last["sku"])
    last["last_batch_time"] = pd.to_datetime(last["last_batch_time"].map(to_utc_naive))
    last = last.drop_duplicates("sku", keep="last")
    images = images.merge(last, on="sku", how="left")
    batch_time = pd.Timestamp(request.batch_time)
    known = images["last_batch_time"].notna()
    later = known & (images["last_batch_time"] > batch_time)
    if request.batch_key is not None:  # same drop time: the greater batch key wins
        last_key = text_column(images["last_batch_key"])
        later |= (
            known
            & (images["last_batch_time"] == batch_time)
            & (last_key != "")
            & (last_key > request.batch_key)
        )
    images["stale"] = later & (images["error"] == "")
    stale = images["stale"]
    images.loc[stale, "stale_reason"] = (
        "stale: batch "
        + text_column(images.loc[stale, "last_batch_key"])
        + " of "
        + images.loc[stale, "last_batch_time"].astype(str)
        + " was already applied to this SKU (use force to replay)"
    )
    return images.drop(columns=["last_batch_time", "last_batch_key"])


def with_statuses(images: pd.DataFrame) -> pd.DataFrame:
    """Error / stale / invalid for the images that will not be written.

    Invalid is a file missing in storage, or no image by its metadata.
    """
    images["action"] = ""
    images["reason"] = ""
    failed = images["error"] != ""
    images.loc[failed, "action"] = "error"
    images.loc[failed, "reason"] = images.loc[failed, "error"]
    images.loc[images["stale"], "action"] = "stale"
    images.loc[images["stale"], "reason"] = images.loc[images["stale"], "stale_reason"]
    missing = (images["error"] == "") & ~images["stale"] & ~images["exists"]
    images.loc[missing, "action"] = "invalid"
    images.loc[missing, "reason"] = "file missing in storage: " + images.loc[missing, "value"]
    refused = missing & (images["not_image"] != "")
    images.loc[refused, "reason"] = (
        "not an image: " + images.loc[refused, "not_image"] + ": " + images.loc[refused, "value"]
    )
    clash = missing & (images["media_clash"] != "")
    images.loc[clash, "reason"] = (
        "the product has a " + images.loc[clash, "media_clash"] + " gallery row with "
        "this value; a second row would be deleted by Magento (Gallery::removeDuplicates): "
        + images.loc[clash, "value"]
    )
    return images


def usable_images(images: pd.DataFrame) -> pd.DataFrame:
    """Images neither in error nor stale (their SKU's product is known and this batch is the newest)."""
    return images[(images["error"] == "") & ~images["stale"]]


def role_blocked_skus(context: DeltaContext, images: pd.DataFrame) -> set[str]:
    """SKUs with an error-rejected image or an image missing in storage: their roles are not reassigned.

    A half-valid payload thereby never wipes roles.
    """
    usable = usable_images(images)
    return set(context.request.invalid_skus) | set(usable.loc[~usable["exists"], "sku"])
