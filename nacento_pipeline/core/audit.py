"""Reconcile Magento's gallery rows with what storage holds now (the daily audit's rules, pure)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nacento_pipeline.core.paths import canonical_of

# Gallery rows in: entity_id, sku, value_id, value (as stored), record_id, s3_etag ("" / None = never synced)
# Storage objects in: key, etag (under the media prefix, resized cache excluded)


@dataclass(frozen=True)
class AuditFindings:
    """What an audit found: gallery rows missing in storage, changed outside a batch or never synced."""

    missing_files: pd.DataFrame  # gallery rows whose file is not in storage
    etag_changed: pd.DataFrame  # stored ETag differs from storage: content changed outside any batch
    never_synced: pd.DataFrame  # rows without a stored ETag (written by another tool, or before us)
    rows: int
    objects: int

    def counts(self) -> dict[str, int]:
        """The rows and objects compared and the size of each finding, by name."""
        return {
            "gallery_rows": self.rows,
            "storage_objects": self.objects,
            "missing_files": len(self.missing_files),
            "etag_changed": len(self.etag_changed),
            "never_synced": len(self.never_synced),
        }


def reconcile(gallery: pd.DataFrame, storage: pd.DataFrame, media_prefix: str) -> AuditFindings:
    """Compare each gallery row's file with the storage listing (one merge, no per-row lookups)."""
    rows = gallery.copy()
    rows["canonical"] = [canonical_of(v) for v in rows["value"].astype(str)]
    rows["key"] = media_prefix + rows["canonical"].str.lstrip("/")
    objects = storage[["key", "etag"]].rename(columns={"etag": "storage_etag"})
    merged = rows.merge(objects, on="key", how="left")
    present = merged["storage_etag"].notna()
    stored = merged["s3_etag"].fillna("").astype(str)
    missing = merged[~present]
    changed = merged[present & (stored != "") & (stored != merged["storage_etag"].astype(str))]
    never = merged[present & (stored == "")]
    return AuditFindings(
        missing_files=missing.reset_index(drop=True),
        etag_changed=changed.reset_index(drop=True),
        never_synced=never.reset_index(drop=True),
        rows=len(rows),
        objects=len(storage),
    )
