"""The first-N tables of magento_gallery's metadata, taken from each chunk's delta as the write commits it.

The write keeps no delta of the whole batch (magento.gallery.sync: keep_delta=False), so what the metadata
shows of its rows (the changed images, the SKUs in error or stale, the images a store view hides) and the
paths whose content changed (for the storefront's resized cache) are gathered here, one chunk at a time:
the first rows of each table and its row count, as the whole write's frames would give them.
"""

from __future__ import annotations

import dagster as dg

from nacento_pipeline.core.delta.model import GalleryDelta
from nacento_pipeline.core.first_rows import FirstRows
from nacento_pipeline.core.markdown import MAX_TABLE_ROWS
from nacento_pipeline.defs.assets.metadata import CHANGED_SHOWN, changed_images, md_table
from nacento_pipeline.storage.image_cache import content_changed_values


class WrittenTables:
    """What magento_gallery reports of the written rows: `add` each written delta (the write's on_written)."""

    def __init__(self) -> None:
        self.changed = FirstRows(MAX_TABLE_ROWS, ["sku", "value"])
        self.sku_errors = FirstRows(MAX_TABLE_ROWS)
        self.stale_skus = FirstRows(MAX_TABLE_ROWS)
        self.hidden = FirstRows(MAX_TABLE_ROWS)
        self.content_changed: set[str] = set()

    def add(self, delta: GalleryDelta) -> None:
        """Take one written delta's rows into the tables."""
        statuses = delta.sku_results["status"]
        self.changed.add(changed_images(delta.items))
        self.sku_errors.add(delta.sku_results[statuses == "error"])
        self.stale_skus.add(delta.sku_results[statuses == "stale"])
        self.hidden.add(delta.warnings[delta.warnings["field"] == "store_view"])
        self.content_changed |= content_changed_values(delta.items)

    def metadata(self) -> dict[str, dg.MetadataValue]:
        """The tables as magento_gallery's metadata (names and meanings as when read from the whole delta)."""
        return {
            "hidden_by_store_view": dg.MetadataValue.int(self.hidden.total),
            "first_hidden_by_store_view": _table(self.hidden, ["sku", "value", "reason"]),
            "changed_images": _table(self.changed, CHANGED_SHOWN),
            "first_sku_errors": _table(self.sku_errors, ["sku", "message"]),
            "first_stale_skus": _table(self.stale_skus, ["sku", "message"]),
        }


def _table(rows: FirstRows, columns: list[str]) -> dg.MetadataValue:
    return md_table(rows.frame, columns, total=rows.total)
