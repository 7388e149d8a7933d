"""Column contracts of the pandas frames that travel between layers.

Every frame crossing a layer boundary has its columns listed here, with their meaning, so that parsing,
delta, writer, assets and checks agree on one vocabulary. Build frames with `empty_frame(COLUMNS)` when
there is nothing to report, so that downstream code never meets a frame without its columns.
"""

from __future__ import annotations

import pandas as pd

# --- Batch images: one row per valid image of the batch (output of core.batch.parse) ------------------------
# sku       str   trimmed SKU as given by the PIM
# value     str   canonical gallery value, one leading slash: "/m/y/my-image.jpg"
# label     str   "" when empty (written as NULL, as Magento's admin does); None = not given (native import
#                 CSV only: an existing image keeps its label)
# position  Int64 -100000..100000, <NA> when not given (the writer places such images after the product's
#                 current maximum position, as Magento's import does); mapped to the unsigned column
# disabled  boolean  <NA> = not given (native import CSV only: the import never re-enables an image)
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
#                 "roles", "stores", a store-level field ("stores.de", "stores.de.label"), "store_view_code",
#                 or "file" for a whole unreadable file
# value     str   offending value, truncated to 200 characters
# reason    str   human-readable reason
REJECTION_COLUMNS = ("severity", "file", "line", "sku", "field", "value", "reason")

# --- ETag snapshot: one row per distinct object key the batch references (output of storage snapshot) ---
# value     str   canonical gallery value ("/m/y/my-image.jpg")
# key       str   object key in the bucket ("media/catalog/product/m/y/my-image.jpg")
# exists    bool  False when the object is missing from storage
# etag      str   ETag without quotes ("" when missing); multipart ETags ("...-N") are opaque strings
# size      int   bytes (0 when missing)
ETAG_COLUMNS = ("value", "key", "exists", "etag", "size", "content_type")

# --- Delta: one row per (sku, value) the batch touches or purges (output of core.delta.model) ---------------
# sku, value          as above (value canonical)
# entity_id           Magento product id (0 when the SKU is unknown)
# action              one of DELTA_ACTIONS
# reason              why (for invalid / error / purged / rejected rows), "" otherwise
# label, position, disabled, roles   wanted state at store 0 (from the batch; the current state for
#                     purged rows); position is final (images without one are placed after the maximum)
# etag                ETag seen in storage now ("" when unknown)
# stored_etag         ETag stored in nacento_media_gallery_meta ("" when none)
# value_id, record_id existing Magento ids (0 when none yet)
# meta_changed        label/position/disabled differ from the store-0 value row
# etag_changed        storage ETag differs from the stored one
# split               the product's media_gallery row is shared with other products (written by the PHP
#                     connector): the product gets its own row before anything else is written
# shared              the media_gallery row is linked to other products too (removal only unlinks it)
DELTA_COLUMNS = (
    "sku",
    "value",
    "entity_id",
    "action",
    "reason",
    "label",
    "position",
    "disabled",
    "roles",
    "etag",
    "stored_etag",
    "value_id",
    "record_id",
    "meta_changed",
    "etag_changed",
    "split",
    "shared",
)
DELTA_ACTIONS = (
    "inserted",  # new image for this product
    "updated_value",  # same path, new content (ETag changed); metadata may also have changed
    "updated_meta",  # label/position/disabled/roles changed, same content
    "skipped_no_change",  # nothing to write
    "purged",  # replace mode: product image not in the payload, removed
    "deduped",  # legacy no-slash duplicate of a canonical row on the same product, removed
    "invalid",  # file missing from storage: not written, never purged
    "error",  # unknown SKU or a SKU-level failure: nothing written for the SKU
    "stale",  # an older batch than the one last applied to this SKU: not written
)
WRITE_ACTIONS = ("inserted", "updated_value", "updated_meta", "purged", "deduped")

# --- Role plan: one row per (product, attribute, store) whose value must change ---------------------------
# sku, entity_id, role (attribute code: a role, or a role's `*_label`), store_id (0 = default scope),
# old_value ("" when no row), new_value (path, "no_selection" or a label; None = delete the row, as Magento
# does for a store-level role of a removed image and for an emptied label)
ROLE_COLUMNS = ("sku", "entity_id", "role", "store_id", "old_value", "new_value")

# --- Store-level value rows to write: one row per (product, image, store) --------------------------------
# entity_id, value (canonical), store_id; record_id 0 = insert; label None = NULL (inherit store 0);
# position <NA> = NULL (inherit); disabled int (Magento's column is NOT NULL: a store row always decides it)
STORE_WRITE_COLUMNS = ("sku", "entity_id", "value", "store_id", "record_id", "label", "position", "disabled")

# --- Extra store-0 value rows: one row per duplicate store-0 value row of a product's image, deleted by the
# write (Magento's reader shows the last of them in position order, `Gallery::createBatchBaseSelect` read
# through `ReadHandler`; that one is kept, the others collapse into it)
EXTRA_VALUE_ROW_COLUMNS = ("sku", "entity_id", "record_id")

# --- SKU results: one row per SKU of the batch, connector-style statistics -------------------------------
# status: "ok" | "error" | "stale" ; message: reason for error/stale
# the per-SKU counters of a result row, also the batch's totals (core.delta.model.TOTAL_NAMES)
SKU_COUNT_COLUMNS = (
    "inserted",
    "updated_value",
    "updated_meta",
    "skipped_no_change",
    "invalid",
    "rejected",
    "purged",
    "deduped_path_variants",
    "roles_assigned",
    "split_shared_rows",
    "store_values",
)
SKU_RESULT_COLUMNS = ("sku", "entity_id", "status", "message", *SKU_COUNT_COLUMNS)

# --- Store-level values: one row per (sku, value, store) the batch sets for a store view --------------------
# Input from native-CSV `store_view_code` rows and the `stores` map of JSON/JSONL images. The image itself
# (store 0) is in the images frame; these rows only override it in one store view.
# sku, value    as in IMAGE_COLUMNS (the image must also be in the images frame)
# store         store code as given (resolved to a store_id through Magento's `store` table by the writer)
# label         object  None = not set at store level (the store shows store 0's label)
# position      Int64   <NA> = not set at store level
# disabled      boolean <NA> = not set at store level
# roles         str     role attribute codes "|"-joined that point to this image in that store; "" = none
# file, line, seq   where it came from
STORE_VALUE_COLUMNS = (
    "sku",
    "value",
    "store",
    "label",
    "position",
    "disabled",
    "roles",
    "file",
    "line",
    "seq",
)

# --- Role scope: which roles a batch manages for a SKU --------------------------------------------------
# Gallery formats manage all four roles (a role no image carries becomes no_selection); Magento's native
# import sets only the role columns present. One row per SKU whose scope is limited; a SKU absent from this
# frame has all ROLE_CODES managed.
# sku             str
# managed_roles   str   "|"-joined role attribute codes the batch sets for this SKU ("" = none)
ROLE_SCOPE_COLUMNS = ("sku", "managed_roles")

ROLE_CODES = ("image", "small_image", "thumbnail", "swatch_image")
# The storefront's alt text of each role image (varchar attributes kept in sync with the image's label).
ROLE_LABEL_CODES = {
    "image": "image_label",
    "small_image": "small_image_label",
    "thumbnail": "thumbnail_label",
}
NO_SELECTION = "no_selection"


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    """An empty frame carrying the contract's columns."""
    return pd.DataFrame({name: pd.Series(dtype="object") for name in columns})
