"""The batch assets, one partition per PIM batch: pim_batch -> image_etags -> gallery_delta -> magento_gallery.

Thin on purpose: each asset reads its inputs, calls the core/adapters, and reports what happened as metadata
and asset checks. The reindex decision lives in `reindex_asset.py`.
"""


import warnings
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from nacento_pipeline.core.batch import ParsedBatch, parse_batch
from nacento_pipeline.core.modes import choose_mode
from nacento_pipeline.core.paths import object_key
from nacento_pipeline.defs.assets.metadata import (
    BATCH_ASSET,
    CHANGED_SHOWN,
    changed_images,
    counts_table,
    duration_metadata,
    int_metadata,
    md_table,
    phase,
)
from nacento_pipeline.defs.constants import MAGENTO_POOL, TAG_ARCHIVE_VERSION, TAG_FORCE, TAG_MODE
from nacento_pipeline.defs.partitions import pim_batches
from nacento_pipeline.magento.gallery_audit import roles_outside_gallery
from nacento_pipeline.magento.gallery_sync import plan_gallery, write_gallery
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.storage.archive import BatchManifest, bunch_sources, load_manifest
from nacento_pipeline.storage.etag_snapshot import snapshot_etags

# Per-partition check results (one verdict per batch in the UI) are a preview feature in Dagster 1.13.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")
REJECTION_SHOWN = ["severity", "file", "line", "sku", "field", "value", "reason"]


@dataclass(frozen=True)
class LoadedBatch:
    """The parsed batch plus where it came from (the archived version a run read)."""

    manifest: BatchManifest
    parsed: ParsedBatch


class DeltaPlanConfig(dg.Config):
    """Run config of the plan (Launchpad: ops > gallery_delta > config); the write applies the same settings."""

    force: bool = False  # write SKUs even when a newer batch already wrote them (replaying an old batch)
    # replace_owned | replace_all | append; default: the batch's own (append for native import CSVs), else
    # NACENTO_SYNC_MODE
    mode: str | None = None


@dg.asset(
    **BATCH_ASSET,
    kinds={"python", "s3"},
    description=(
        "The batch as dropped by the PIM (read from its immutable archive), parsed and validated into one "
        "table of images plus a table of rejections naming file, line, field and reason."
    ),
    check_specs=[
        dg.AssetCheckSpec("no_rejected_rows", asset="pim_batch", partitions_def=pim_batches,
                          description="Every row of the batch was valid (warns otherwise)."),
    ],
)
def pim_batch(context: dg.AssetExecutionContext, object_store: ObjectStoreResource):
    store = object_store.get_store()
    durations: dict[str, float] = {}
    version = context.run.tags.get(TAG_ARCHIVE_VERSION)
    with phase(durations, "parse"):
        manifest = load_manifest(store, object_store.settings.archive_prefix, context.partition_key, version)
        parsed = parse_batch(bunch_sources(store, manifest), list_separator=object_store.settings.csv_list_separator)
    rejections = parsed.rejections
    errors = rejections[rejections["severity"] == "error"]
    warnings = rejections[rejections["severity"] == "warning"]
    unreadable = parsed.file_errors
    if not unreadable.empty:
        first = unreadable.iloc[0]
        raise dg.Failure(
            description=(
                f"batch {manifest.batch_key}: {len(unreadable)} unreadable bunch file(s); first: "
                f"{first['file']} line {first['line']}: {first['reason']}. Nothing was written to Magento."
            ),
            metadata={"rejections": md_table(unreadable, REJECTION_SHOWN), "archive": manifest.prefix},
        )
    images = parsed.images
    metadata = {
        "archive": dg.MetadataValue.text(manifest.prefix),
        "archive_version": dg.MetadataValue.text(manifest.version),
        "batch_time": dg.MetadataValue.text(manifest.batch_time),
        "files": dg.MetadataValue.int(len(manifest.files)),
        "request_ids": dg.MetadataValue.text(", ".join(parsed.request_ids) or "-"),
        "skus": dg.MetadataValue.int(int(images["sku"].nunique()) if not images.empty else 0),
        "images": dg.MetadataValue.int(len(images)),
        "rejected": dg.MetadataValue.int(len(errors)),
        "warnings": dg.MetadataValue.int(len(warnings)),
        "first_rejections": md_table(rejections, REJECTION_SHOWN),
        **duration_metadata(durations),
    }
    yield dg.Output(LoadedBatch(manifest=manifest, parsed=parsed), metadata=metadata)
    yield dg.AssetCheckResult(
        check_name="no_rejected_rows",
        passed=bool(errors.empty),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected": len(errors), "warnings": len(warnings), "first": md_table(errors, REJECTION_SHOWN, 10)},
    )


def _wanted_objects(parsed: ParsedBatch, media_prefix: str) -> pd.DataFrame:
    values = pd.Series(parsed.images["value"].unique(), dtype="object") if not parsed.images.empty else pd.Series(
        [], dtype="object")
    return pd.DataFrame({"value": values, "key": [object_key(v, media_prefix) for v in values]})


@dg.asset(
    **BATCH_ASSET,
    kinds={"python", "s3"},
    description=(
        "ETag, size and existence of every image the batch references, taken with as few storage requests "
        "as possible (LIST pages of 1,000 keys where images are dense, HEAD where they are sparse)."
    ),
)
def image_etags(context: dg.AssetExecutionContext, object_store: ObjectStoreResource,
                pim_batch: LoadedBatch) -> dg.Output[pd.DataFrame]:
    store = object_store.get_store()
    durations: dict[str, float] = {}
    wanted = _wanted_objects(pim_batch.parsed, object_store.settings.media_prefix)
    with phase(durations, "snapshot"):
        snapshot = snapshot_etags(store, wanted, head_concurrency=object_store.settings.head_concurrency)
    frame = snapshot.frame
    missing = frame[~frame["exists"].astype(bool)]
    requests = {k: v for k, v in snapshot.requests.items() if v}
    return dg.Output(
        frame,
        metadata={
            "keys": dg.MetadataValue.int(len(frame)),
            "missing": dg.MetadataValue.int(len(missing)),
            "s3_requests": dg.MetadataValue.int(sum(requests.values())),
            "requests_by_kind": counts_table(requests, "request"),
            "strategy": dg.MetadataValue.json(dict(snapshot.strategy)),
            "first_missing": md_table(missing, ["value", "key"]),
            "store": dg.MetadataValue.text(store.display_name),
            **duration_metadata(durations),
        },
    )


def _delta_metadata(delta, durations: dict[str, float]) -> dict[str, dg.MetadataValue]:
    counts = delta.counts()
    items = delta.items
    problems = items[items["action"].isin(["error", "invalid", "stale"])]
    return {
        **int_metadata(counts),
        "skus": dg.MetadataValue.int(len(delta.sku_results)),
        "changed_products": dg.MetadataValue.int(len(delta.changed_entity_ids)),
        "role_changes": dg.MetadataValue.int(len(delta.roles)),
        "first_problems": md_table(problems, ["sku", "value", "action", "reason"]),
        **duration_metadata(durations),
    }


@dg.asset(
    **BATCH_ASSET,
    kinds={"python", "mysql"},
    description=(
        "The ETag delta: per image inserted / updated_value / updated_meta / skipped_no_change / purged / "
        "invalid (missing in storage) / error (unknown SKU) / stale, from the batch, Magento's current "
        "gallery and the stored ETags. Read-only."
    ),
    check_specs=[
        dg.AssetCheckSpec("all_skus_known", asset="gallery_delta", partitions_def=pim_batches,
                          description="Every SKU of the batch exists in catalog_product_entity."),
    ],
)
def gallery_delta(context: dg.AssetExecutionContext, config: DeltaPlanConfig, magento: MagentoDatabaseResource,
                  pim_batch: LoadedBatch, image_etags: pd.DataFrame):
    durations: dict[str, float] = {}
    if config.force:
        context.instance.add_run_tags(context.run.run_id, {TAG_FORCE: "true"})
    mode, mode_source = choose_mode(config.mode, getattr(pim_batch.parsed, "default_mode", None), magento.settings.sync_mode)
    with phase(durations, "plan"):
        delta = plan_gallery(
            magento.get_database(), pim_batch.parsed, image_etags,
            mode=mode, batch_time=pim_batch.manifest.batch_datetime,
            force=config.force, chunk_size=magento.settings.chunk_size, batch_key=pim_batch.manifest.batch_key,
        )
    metadata = _delta_metadata(delta, durations)
    metadata["mode"] = dg.MetadataValue.text(f"{delta.mode} ({mode_source})")
    context.instance.add_run_tags(context.run.run_id, {TAG_MODE: delta.mode})
    metadata["force"] = dg.MetadataValue.bool(config.force)
    yield dg.Output(delta, metadata=metadata)
    unknown_skus = sorted(delta.unknown_skus)
    yield dg.AssetCheckResult(
        check_name="all_skus_known",
        passed=not unknown_skus,
        severity=dg.AssetCheckSeverity.ERROR if magento.settings.unknown_sku_severity == "error" else dg.AssetCheckSeverity.WARN,
        metadata={"unknown_skus": len(unknown_skus), "first": ", ".join(unknown_skus[:20]) or "-"},
    )


@dg.asset(
    **BATCH_ASSET,
    kinds={"python", "mysql"},
    pool=MAGENTO_POOL,
    description=(
        "The write: applies the delta to Magento's gallery tables in chunks of SKUs (one transaction each, "
        "a constant number of statements per chunk), re-reading each chunk under the writer lock so a stale "
        "plan can never corrupt the gallery. Roles, labels, positions, disabled flags and ETags."
    ),
    check_specs=[
        dg.AssetCheckSpec("rows_written_match_plan", asset="magento_gallery", partitions_def=pim_batches,
                          description="What was written equals what gallery_delta planned."),
        dg.AssetCheckSpec("written_paths_exist_in_storage", asset="magento_gallery", partitions_def=pim_batches,
                          description="Every image path written is present in storage now."),
        dg.AssetCheckSpec("roles_point_at_gallery_paths", asset="magento_gallery", partitions_def=pim_batches,
                          description="Every role (image, small_image, thumbnail, swatch_image) of the batch's "
                                      "products points at a path of the product's gallery, or no_selection."),
    ],
)
def magento_gallery(context: dg.AssetExecutionContext, magento: MagentoDatabaseResource, object_store: ObjectStoreResource,
                    pim_batch: LoadedBatch, image_etags: pd.DataFrame, gallery_delta):
    db = magento.get_database()
    plan = gallery_delta  # the GalleryPlan: the write applies it, re-planning only chunks changed since
    durations: dict[str, float] = {}
    with phase(durations, "write"):
        result = write_gallery(db, plan, run_id=context.run.run_id, progress=context.log.info)
    with phase(durations, "verify"):
        written_values = result.written_values()
        wanted = pd.DataFrame({"value": written_values,
                               "key": [object_key(v, object_store.settings.media_prefix) for v in written_values]})
        present = snapshot_etags(object_store.get_store(), wanted, head_concurrency=object_store.settings.head_concurrency)
        gone = present.frame[~present.frame["exists"].astype(bool)]
        bad_roles = roles_outside_gallery(db, result.entity_ids())
    totals = result.totals()
    hidden = result.delta.warnings[result.delta.warnings["field"] == "store_view"]
    metadata = {
        **int_metadata(totals),
        "mode": dg.MetadataValue.text(plan.mode),
        "hidden_by_store_view": dg.MetadataValue.int(len(hidden)),
        "first_hidden_by_store_view": md_table(hidden, ["sku", "value", "reason"]),
        "write_statements": dg.MetadataValue.int(result.write_statements),
        "replanned_chunks": dg.MetadataValue.int(result.replanned_chunks),
        "sql_statements": dg.MetadataValue.int(result.statements),
        "changed_images": md_table(changed_images(result.items), CHANGED_SHOWN),
        "first_sku_errors": md_table(result.sku_results[result.sku_results["status"] == "error"],
                                     ["sku", "message"]),
        "first_stale_skus": md_table(result.sku_results[result.sku_results["status"] == "stale"],
                                     ["sku", "message"]),
        **duration_metadata(durations),
    }
    yield dg.Output(result, metadata=metadata)

    planned = gallery_delta.counts()
    written = result.counts()
    compared = sorted(set(planned) | set(written))
    diff = {k: (planned.get(k, 0), written.get(k, 0)) for k in compared if planned.get(k, 0) != written.get(k, 0)}
    yield dg.AssetCheckResult(
        check_name="rows_written_match_plan",
        passed=not diff,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"differences (planned, written)": dg.MetadataValue.json({k: list(v) for k, v in diff.items()})},
    )
    yield dg.AssetCheckResult(
        check_name="written_paths_exist_in_storage",
        passed=bool(gone.empty),
        metadata={"checked": len(wanted), "missing": len(gone), "first_missing": md_table(gone, ["value", "key"])},
    )
    yield dg.AssetCheckResult(
        check_name="roles_point_at_gallery_paths",
        passed=bool(bad_roles.empty),
        metadata={"products_checked": len(result.entity_ids()), "bad_roles": len(bad_roles),
                  "first_bad_roles": md_table(bad_roles)},
    )
