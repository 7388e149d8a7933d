"""Column contracts of the pandas frames that travel between layers.

Every frame crossing a layer boundary has its columns listed here, with their meaning, so that parsing,
delta, writer, assets and checks agree on one vocabulary. Build frames with `empty_frame(COLUMNS)` when
there is nothing to report, so that downstream code never meets a frame without its columns.
"""

from __future__ import annotations

import pandas as pd

# --- Batch images: one row per valid image of the batch (output of core.batch) --------------------------
# sku       str   trimmed SKU as given by the PIM
# value     str   canonical gallery value, one leading slash: "/m/y/my-image.jpg"
# label     str   "" when not given
# position  int   -100000..100000 (mapped to Magento's unsigned column by the writer)
# disabled  bool
# roles     str   Magento attribute codes joined by "|", in payload order, e.g. "image|small_image"; "" = none
# file      str   bunch file name the image came from
# line      int   1-based line (CSV/JSONL) or item number (JSON bulk) within that file
# seq       int   global payload order within the batch (the last image carrying a role wins)
IMAGE_COLUMNS = ("sku", "value", "label", "position", "disabled", "roles", "file", "line", "seq")

# --- Rejections and warnings: one row per problem found while parsing/validating ------------------------
# severity  str   "error" (the image/item is not written) or "warning" (written, but worth a look)
# file      str   bunch file name ("" when the problem is batch-wide)
# line      int   1-based line or item number (0 when unknown / batch-wide)
# sku       str   SKU when known, else ""
# field     str   payload field at fault: "sku", "images", "file_path", "label", "position", "disabled",
#                 "roles", or "file" for a whole unreadable file
# value     str   offending value, truncated to 200 characters
# reason    str   human-readable reason
REJECTION_COLUMNS = ("severity", "file", "line", "sku", "field", "value", "reason")

# --- ETag snapshot: one row per distinct object key the batch references (output of storage snapshot) ---
# value     str   canonical gallery value ("/m/y/my-image.jpg")
# key       str   object key in the bucket ("media/catalog/product/m/y/my-image.jpg")
# exists    bool  False when the object is missing from storage
# etag      str   ETag without quotes ("" when missing); multipart ETags ("...-N") are opaque strings
# size      int   bytes (0 when missing)
ETAG_COLUMNS = ("value", "key", "exists", "etag", "size")

# --- Delta: one row per (sku, value) the batch touches or purges (output of core.delta) -----------------
# sku, value          as above (value canonical)
# entity_id           Magento product id (0 when the SKU is unknown)
# action              one of DELTA_ACTIONS
# reason              why (for invalid / error / purged / rejected rows), "" otherwise
# label, position, disabled, roles   wanted state (from the batch; the current state for purged rows)
# etag                ETag seen in storage now ("" when unknown)
# stored_etag         ETag stored in nacento_media_gallery_meta ("" when none)
# value_id, record_id existing Magento ids (0 when none yet)
# meta_changed        label/position/disabled differ from the store-0 value row
# etag_changed        storage ETag differs from the stored one
DELTA_COLUMNS = (
    "sku", "value", "entity_id", "action", "reason", "label", "position", "disabled", "roles",
    "etag", "stored_etag", "value_id", "record_id", "meta_changed", "etag_changed",
)
DELTA_ACTIONS = (
    "inserted",            # new image for this product
    "updated_value",       # same path, new content (ETag changed); metadata may also have changed
    "updated_meta",        # label/position/disabled/roles changed, same content
    "skipped_no_change",   # nothing to write
    "purged",              # replace mode: product image not in the payload, removed
    "deduped",             # legacy no-slash duplicate of a canonical row on the same product, removed
    "invalid",             # file missing from storage: not written, never purged
    "error",               # unknown SKU or a SKU-level failure: nothing written for the SKU
    "stale",               # an older batch than the one last applied to this SKU: not written
)
WRITE_ACTIONS = ("inserted", "updated_value", "updated_meta", "purged", "deduped")

# --- Role plan: one row per (product, role) whose store-0 value must change -------------------------------
# sku, entity_id, role (attribute code), old_value ("" when no row), new_value (path or "no_selection")
ROLE_COLUMNS = ("sku", "entity_id", "role", "old_value", "new_value")

# --- SKU results: one row per SKU of the batch, connector-style statistics -------------------------------
# status: "ok" | "error" | "stale" ; message: reason for error/stale
SKU_RESULT_COLUMNS = (
    "sku", "entity_id", "status", "message", "inserted", "updated_value", "updated_meta",
    "skipped_no_change", "invalid", "rejected", "purged", "deduped_path_variants", "roles_assigned",
)

ROLE_CODES = ("image", "small_image", "thumbnail", "swatch_image")
NO_SELECTION = "no_selection"


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    """An empty frame carrying the contract's columns."""
    return pd.DataFrame({name: pd.Series(dtype="object") for name in columns})
