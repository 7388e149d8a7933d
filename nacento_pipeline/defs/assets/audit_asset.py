"""`gallery_audit`: daily reconciliation of every Magento gallery row with storage, with an optional fix."""

import dagster as dg
import pandas as pd

from nacento_pipeline.core.audit import reconcile
from nacento_pipeline.defs.assets.metadata import duration_metadata, int_metadata, md_table, phase
from nacento_pipeline.defs.constants import AUDIT_GROUP, OWNERS
from nacento_pipeline.magento.gallery.audit import (
    collapse_duplicate_default_value_rows,
    delete_orphans,
    duplicate_default_value_rows,
    iter_gallery_rows,
    orphaned_meta_record_ids,
    refresh_etags,
    shared_gallery_rows,
    split_shared_gallery_rows,
    unlinked_gallery_value_ids,
)
from nacento_pipeline.magento.gallery.digest import changed_since_applied, forget
from nacento_pipeline.magento.journal import prune_journal
from nacento_pipeline.magento.spellings import mixed_spellings, unify_mixed_spellings
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.storage.media_listing import list_media

SHOWN = ["sku", "value", "key", "s3_etag", "storage_etag"]


class GalleryAuditConfig(dg.Config):
    """Run config of the audit (Launchpad: ops > gallery_audit > config): `fix` repairs what it can.

    fix: delete orphaned ETag rows and unlinked gallery rows, split media_gallery rows shared between products
    (the PHP connector's) so each product has its own, rewrite files spelled more than one way (`/a/b.jpg` and
    the legacy `a/b.jpg`: Magento counts a file's uses by the exact value) to the canonical spelling, store
    the ETags seen now for images whose content changed outside any batch, delete duplicate store-0 value rows
    of an image (the one Magento shows stays), and forget what was applied to products whose gallery changed
    outside the pipeline (the next sync plans them again). Missing files are only reported: an image is never
    removed by the audit.
    """

    fix: bool = False


@dg.asset(
    group_name=AUDIT_GROUP,
    owners=OWNERS,
    kinds={"python", "s3", "mysql"},
    description=(
        "Reconciles all Magento gallery rows with storage: files missing from the bucket, ETags changed "
        "outside any batch, rows never synced by the pipeline, orphaned ETag rows and unlinked gallery rows; "
        "and products whose gallery or roles changed outside the pipeline since it wrote them (a re-sync "
        "leaves SKUs whose batch content is unchanged alone, so it would not see such a change). Prunes the "
        "undo journal's entries older than NACENTO_JOURNAL_RETENTION_DAYS."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "gallery_files_present",
            asset="gallery_audit",
            description="Every image in Magento's gallery exists in storage.",
        ),
    ],
)
def gallery_audit(
    context: dg.AssetExecutionContext,
    config: GalleryAuditConfig,
    magento: MagentoDatabaseResource,
    object_store: ObjectStoreResource,
) -> dg.MaterializeResult:
    """Reconcile every gallery row with storage; with `fix`, repair what can be repaired."""
    db = magento.get_database()
    store = object_store.get_store()
    durations: dict[str, float] = {}
    before = store.requests.snapshot()
    with phase(durations, "list_storage"):
        storage = list_media(store, object_store.media_prefix, object_store.media_cache_prefix)
    with phase(durations, "read_gallery"):
        frames = list(iter_gallery_rows(db))
        gallery = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=["entity_id", "sku", "value_id", "value", "record_id", "s3_etag"])
        )
        orphan_meta = orphaned_meta_record_ids(db)
        unlinked = unlinked_gallery_value_ids(db)
        shared = shared_gallery_rows(db)
        mixed = mixed_spellings(db)
        duplicates = duplicate_default_value_rows(db)
    with phase(durations, "compare_applied"):
        outside = changed_since_applied(db)
    findings = reconcile(gallery, storage, object_store.media_prefix)
    counts = {
        **findings.counts(),
        "orphaned_meta_rows": len(orphan_meta),
        "unlinked_gallery_rows": len(unlinked),
        "shared_gallery_rows": len(shared),
        "mixed_spelling_files": len(mixed),
        "duplicate_default_value_rows": int(duplicates["extra"].sum()),
        "changed_outside_pipeline": len(outside),
    }
    fixed = {}
    if config.fix:
        with phase(durations, "fix"):
            fixed["orphans_deleted"] = delete_orphans(db, orphan_meta, unlinked)
            changed = findings.etag_changed.rename(columns={"storage_etag": "etag"})[["record_id", "etag"]]
            fixed["etags_refreshed"] = refresh_etags(db, changed)
            fixed["shared_rows_split"] = split_shared_gallery_rows(db)
            fixed["spellings_unified"] = unify_mixed_spellings(db)
            fixed["duplicate_value_rows_deleted"] = collapse_duplicate_default_value_rows(db)
            # what was applied no longer describes these products (ETags just refreshed, or edited outside)
            fixed["applied_digests_forgotten"] = forget(
                db, sorted(set(outside["sku"].astype(str)) | set(findings.etag_changed["sku"].astype(str)))
            )
        context.log.info(f"audit fix: {fixed}")
    retention = magento.journal_retention_days
    with phase(durations, "prune_journal"):
        pruned = prune_journal(db, retention)
    requests = {k: v for k, v in store.requests.since(before).items() if v}
    check = dg.AssetCheckResult(
        check_name="gallery_files_present",
        passed=bool(findings.missing_files.empty),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing_files": len(findings.missing_files)},
    )
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            **int_metadata(counts),
            **int_metadata(fixed),
            "fix": dg.MetadataValue.bool(config.fix),
            "journal_rows_pruned": dg.MetadataValue.int(pruned),
            "journal_retention_days": dg.MetadataValue.int(retention),
            "s3_requests": dg.MetadataValue.int(sum(requests.values())),
            "first_missing_files": md_table(findings.missing_files, SHOWN),
            "first_etag_changed": md_table(findings.etag_changed, SHOWN),
            "first_shared_gallery_rows": md_table(shared, ["value_id", "value", "products"]),
            "first_mixed_spelling_files": md_table(mixed, ["canonical", "spellings", "rows"]),
            "first_changed_outside_pipeline": md_table(outside, ["sku", "recorded", "current"]),
            **duration_metadata(durations),
        },
    )
