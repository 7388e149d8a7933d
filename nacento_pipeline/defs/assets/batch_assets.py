"""The batch assets, one partition per PIM batch.

pim_batch -> image_etags -> gallery_delta -> magento_gallery. Thin on purpose: each asset reads its inputs,
calls the core/adapters, and reports what happened as metadata and asset checks. The reindex decision lives in
`reindex_asset.py`.
"""

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace

import dagster as dg
import pandas as pd

from nacento_pipeline.core.akeneo.mapping import AkeneoMapping
from nacento_pipeline.core.batch.parse import ParsedBatch, parse_batch
from nacento_pipeline.core.blast_radius import BlastRadius
from nacento_pipeline.core.delta.model import GalleryDelta, sum_counts
from nacento_pipeline.core.delta.modes import choose_mode
from nacento_pipeline.core.first_rows import FirstRows
from nacento_pipeline.core.frames import ROLE_CODES
from nacento_pipeline.core.markdown import MAX_TABLE_ROWS
from nacento_pipeline.core.paths import object_key
from nacento_pipeline.core.preview import Preview
from nacento_pipeline.defs.assets.media_feed import FeedSnapshot, feed_metadata, feed_snapshot
from nacento_pipeline.defs.assets.metadata import (
    BATCH_ASSET,
    counts_table,
    duration_metadata,
    int_metadata,
    md_table,
    phase,
    preview_metadata,
)
from nacento_pipeline.defs.assets.run_config import (
    AkeneoConfig,
    DeltaPlanConfig,
    GalleryWriteConfig,
    ImageEtagsConfig,
    PimBatchConfig,
)
from nacento_pipeline.defs.assets.write_tables import WrittenTables
from nacento_pipeline.defs.constants import (
    MAGENTO_POOL,
    TAG_APPROVE_BLAST_RADIUS,
    TAG_ARCHIVE_VERSION,
    TAG_FORCE,
    TAG_MODE,
)
from nacento_pipeline.defs.partitions import pim_batches
from nacento_pipeline.defs.step_failures import reported_failures
from nacento_pipeline.magento.blast_radius import measure_plan, preview_plan
from nacento_pipeline.magento.gallery.reader import read_store_websites
from nacento_pipeline.magento.gallery.sync import GalleryPlan, WriteResult, plan_gallery, write_gallery
from nacento_pipeline.magento.gallery.verify_write import (
    STORAGE_SAMPLE,
    ChunkVerifier,
    Verification,
    verify_write,
)
from nacento_pipeline.resources.drop_zone import DropZoneResource
from nacento_pipeline.resources.io_manager import KEEP_OUTPUT_TAG
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.resources.plan_store import part_sink, planning_directory
from nacento_pipeline.storage.drop.archive import BatchManifest, bunch_sources, load_manifest
from nacento_pipeline.storage.drop.export_batch import parse_export_batch
from nacento_pipeline.storage.etag_snapshot import snapshot_etags, storage_lookup

# Per-partition check results (one verdict per batch in the UI) are a preview feature in Dagster 1.13.
warnings.filterwarnings(
    "ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*"
)
REJECTION_SHOWN = ["severity", "file", "line", "sku", "field", "value", "reason"]


@dataclass(frozen=True)
class LoadedBatch:
    """The parsed batch plus where it came from (the archived version a run read)."""

    manifest: BatchManifest
    parsed: ParsedBatch


def _akeneo_mapping(akeneo: AkeneoConfig, magento: MagentoDatabaseResource) -> AkeneoMapping:
    """The run's Akeneo mapping, with each store view's website read from Magento when several channels map.

    With more than one channel mapped, `store` and `store_website` give each store view's website, so a store
    view shows the channel mapped to its website.
    """
    mapping = akeneo.mapping()
    if len(mapping.channel_websites) > 1 and mapping.locale_stores:
        db = magento.get_database()
        with db.engine.connect() as conn:
            mapping = replace(mapping, store_websites=read_store_websites(conn, db.tables))
    return mapping


def _custom_roles(magento: MagentoDatabaseResource) -> tuple[str, ...]:
    """The shop's media_image attributes beyond the four standard roles: image columns of native CSVs."""
    return tuple(code for code in magento.get_database().attribute_ids().roles if code not in ROLE_CODES)


@dg.asset(
    **BATCH_ASSET,
    kinds={"python", "s3"},
    description=(
        "The batch as dropped by the PIM (read from its immutable archive), parsed and validated into one "
        "table of images plus a table of rejections naming file, line, field and reason."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "no_rejected_rows",
            asset="pim_batch",
            partitions_def=pim_batches,
            description="Every row of the batch was valid (warns otherwise).",
        ),
    ],
)
def pim_batch(
    context: dg.AssetExecutionContext,
    config: PimBatchConfig,
    object_store: ObjectStoreResource,
    drop_zone: DropZoneResource,
    magento: MagentoDatabaseResource,
) -> Iterator[dg.Output[LoadedBatch] | dg.AssetCheckResult]:
    """Load the batch from its archive, parse and validate it; yield it with its validity check."""
    store = object_store.get_store()
    durations: dict[str, float] = {}
    version = context.run.tags.get(TAG_ARCHIVE_VERSION)
    with phase(durations, "parse"), reported_failures():
        manifest = load_manifest(store, drop_zone.archive_prefix, context.partition_key, version)
        export = (
            parse_export_batch(
                store,
                manifest,
                _akeneo_mapping(config.akeneo, magento),
                media_prefix=object_store.media_prefix,
                catalog_prefix=config.akeneo.catalog_prefix,
                concurrency=object_store.concurrency,
            )
            if manifest.export_folder
            else None
        )
        parsed = (
            export.parsed
            if export
            else parse_batch(
                bunch_sources(store, manifest),
                list_separator=config.list_separator,
                limits=drop_zone.limits,
                custom_roles=lambda: _custom_roles(magento),
            )
        )
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
    if export is not None:
        metadata["format"] = dg.MetadataValue.text("Akeneo export folder")
        metadata["media_files"] = dg.MetadataValue.int(export.media_files)
        metadata["catalog_files_copied"] = dg.MetadataValue.int(export.placement.copied)
    yield dg.Output(LoadedBatch(manifest=manifest, parsed=parsed), metadata=metadata)
    yield dg.AssetCheckResult(
        check_name="no_rejected_rows",
        passed=bool(errors.empty),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected": len(errors),
            "warnings": len(warnings),
            "first": md_table(errors, REJECTION_SHOWN, 10),
        },
    )


def _wanted_objects(parsed: ParsedBatch, media_prefix: str) -> pd.DataFrame:
    values = (
        pd.Series(parsed.images["value"].unique(), dtype="object")
        if not parsed.images.empty
        else pd.Series([], dtype="object")
    )
    return pd.DataFrame({"value": values, "key": [object_key(v, media_prefix) for v in values]})


@dg.asset(
    **BATCH_ASSET,
    kinds={"python", "s3"},
    description=(
        "ETag, size and existence of every image the batch references, taken with as few storage requests "
        "as possible (LIST pages of 1,000 keys where images are dense, HEAD where they are sparse)."
    ),
)
def image_etags(
    context: dg.AssetExecutionContext,
    config: ImageEtagsConfig,
    object_store: ObjectStoreResource,
    magento: MagentoDatabaseResource,
    pim_batch: LoadedBatch,
) -> dg.Output[pd.DataFrame]:
    """Return the current ETags of the batch's images in object storage, with their lookup figures."""
    store = object_store.get_store()
    durations: dict[str, float] = {}
    wanted = _wanted_objects(pim_batch.parsed, object_store.media_prefix)
    queue = object_store.get_media_feed_queue()
    feed: dict[str, dg.MetadataValue] = {"feed_mode": dg.MetadataValue.text("off (full LIST)")}
    with phase(durations, "snapshot"), reported_failures():
        if queue is None:
            snapshot = snapshot_etags(store, wanted, head_concurrency=object_store.concurrency)
        else:
            taken = feed_snapshot(
                store,
                magento.get_database(),
                queue,
                wanted,
                media_prefix=object_store.media_prefix,
                full_hours=config.media_feed_full_hours,
                head_concurrency=object_store.concurrency,
            )
            snapshot = taken.snapshot
            feed = _feed_metadata(context, taken)
    frame = snapshot.frame
    missing = frame[~frame["exists"].astype(bool)]
    requests = {k: v for k, v in snapshot.requests.items() if v}
    typed = int((frame["exists"].astype(bool) & (frame["content_type"] != "")).sum())
    return dg.Output(
        frame,
        metadata={
            "keys": dg.MetadataValue.int(len(frame)),
            "missing": dg.MetadataValue.int(len(missing)),
            "content_type_known": dg.MetadataValue.int(typed),
            "content_type_check": dg.MetadataValue.text(
                f"Content-Type checked for {typed} of {len(frame) - len(missing)} existing objects: "
                "those looked up by HEAD; a LIST reports no Content-Type, so listed objects were checked "
                "for size (0 bytes) only"
            ),
            "s3_requests": dg.MetadataValue.int(sum(requests.values())),
            "requests_by_kind": counts_table(requests, "request"),
            "strategy": dg.MetadataValue.json(dict(snapshot.strategy)),
            "first_missing": md_table(missing, ["value", "key"]),
            "store": dg.MetadataValue.text(store.display_name),
            **feed,
            **duration_metadata(durations),
        },
    )


def _feed_metadata(context: dg.AssetExecutionContext, taken: FeedSnapshot) -> dict[str, dg.MetadataValue]:
    """How the media change feed's snapshot ran, as metadata; its warnings logged too."""
    figures = feed_metadata(taken)
    for warning in taken.warnings:
        context.log.warning(f"media feed: {warning}")
    out: dict[str, dg.MetadataValue] = {
        f"feed_{name}": dg.MetadataValue.int(value)
        if isinstance(value, int)
        else dg.MetadataValue.text(str(value))
        for name, value in figures.items()
    }
    out["feed_warning"] = dg.MetadataValue.text(" | ".join(taken.warnings) or "-")
    out["feed_first_missed"] = md_table(taken.missed, ["key", "was_etag", "now_etag"])
    return out


def _delta_metadata(
    delta: GalleryPlan, durations: dict[str, float]
) -> tuple[dict[str, dg.MetadataValue], list[str]]:
    """gallery_delta's metadata and the plan's unknown SKUs, read one stored part of the plan at a time."""
    counts: list[dict[str, int]] = []
    problems = FirstRows(MAX_TABLE_ROWS)
    skus = roles = 0
    changed: set[int] = set()
    unknown: list[str] = []
    for chunks in delta.chunk_groups():
        for chunk in chunks:
            part = chunk.delta
            items = part.items
            counts.append(part.counts())
            problems.add(items[items["action"].isin(["error", "invalid", "stale"])])
            skus += len(part.sku_results)
            changed.update(part.changed_entity_ids)
            roles += len(part.roles)
            unknown.extend(part.unknown_skus)
    metadata = {
        **int_metadata(sum_counts(counts)),
        "skus": dg.MetadataValue.int(skus),
        # left out of the plan: their digest is the one applied (magento.gallery.digest)
        "unchanged_skus": dg.MetadataValue.int(len(getattr(delta, "unchanged_skus", ()))),
        "changed_products": dg.MetadataValue.int(len(changed)),
        "role_changes": dg.MetadataValue.int(roles),
        "first_problems": md_table(
            problems.frame, ["sku", "value", "action", "reason"], total=problems.total
        ),
        **duration_metadata(durations),
    }
    return metadata, unknown


@dg.asset(
    **BATCH_ASSET,
    kinds={"python", "mysql"},
    description=(
        "The ETag delta: per image inserted / updated_value / updated_meta / skipped_no_change / purged / "
        "invalid (missing in storage) / error (unknown SKU) / stale, from the batch, Magento's current "
        "gallery and the stored ETags. Read-only."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "all_skus_known",
            asset="gallery_delta",
            partitions_def=pim_batches,
            description="Every SKU of the batch exists in catalog_product_entity.",
        ),
    ],
)
def gallery_delta(
    context: dg.AssetExecutionContext,
    config: DeltaPlanConfig,
    magento: MagentoDatabaseResource,
    pim_batch: LoadedBatch,
    image_etags: pd.DataFrame,
) -> Iterator[dg.Output[GalleryPlan] | dg.AssetCheckResult]:
    """Plan the batch's gallery changes against Magento; yield the plan with its known-SKUs check."""
    durations: dict[str, float] = {}
    if config.force:
        context.instance.add_run_tags(context.run.run_id, {TAG_FORCE: "true"})
    mode, mode_source = choose_mode(
        config.mode, getattr(pim_batch.parsed, "default_mode", None), config.default_mode
    )
    with (
        phase(durations, "plan"),
        reported_failures(),
        planning_directory(context.instance.storage_directory(), context.run.run_id) as parts,
    ):
        delta = plan_gallery(
            magento.get_database(),
            pim_batch.parsed,
            image_etags,
            mode=mode,
            batch_time=pim_batch.manifest.batch_datetime,
            force=config.force,
            chunk_size=magento.chunk_size,
            batch_key=pim_batch.manifest.batch_key,
            remove_store_role_images=config.remove_store_role_images,
            sink=part_sink(parts, magento.chunk_size),  # each group on disk once planned
        )
    with phase(durations, "preview"):
        shown = preview_plan(magento.get_database(), delta)
    figures, unknown = _delta_metadata(delta, durations)
    metadata = {**figures, **preview_metadata(shown)}
    metadata["mode"] = dg.MetadataValue.text(f"{delta.mode} ({mode_source})")
    context.instance.add_run_tags(context.run.run_id, {TAG_MODE: delta.mode})
    metadata["force"] = dg.MetadataValue.bool(config.force)
    yield dg.Output(delta, metadata=metadata)
    unknown_skus = sorted(unknown)
    yield dg.AssetCheckResult(
        check_name="all_skus_known",
        passed=not unknown_skus,
        severity=dg.AssetCheckSeverity.ERROR
        if config.unknown_sku_severity == "error"
        else dg.AssetCheckSeverity.WARN,
        metadata={"unknown_skus": len(unknown_skus), "first": ", ".join(unknown_skus[:20]) or "-"},
    )


@dataclass(frozen=True)
class GalleryChanges:
    """magento_gallery's output: what the write changed, as much as the assets after it read.

    Small (product ids and content-changed paths, no frame): it is the one output kept per partition, so that
    re-materializing storefront_cache or reindex_decision for a batch later still works
    (resources/io_manager.py).
    """

    changed_entity_ids: list[int]
    content_changed_values: list[str]  # paths whose content changed under the same name (resized cache)


def _write_metadata(
    result: WriteResult, tables: WrittenTables, mode: str, durations: dict[str, float]
) -> dict[str, dg.MetadataValue]:
    return {
        **int_metadata(result.totals()),
        "mode": dg.MetadataValue.text(mode),
        "write_statements": dg.MetadataValue.int(result.write_statements),
        "replanned_chunks": dg.MetadataValue.int(result.replanned_chunks),
        "sql_statements": dg.MetadataValue.int(result.statements),
        **tables.metadata(),
        **duration_metadata(durations),
    }


def _plan_difference(planned: dict[str, int], written: dict[str, int]) -> dict[str, list[int]]:
    """Counts by action that differ between the plan and the write: action -> [planned, written]."""
    return {
        k: [planned.get(k, 0), written.get(k, 0)]
        for k in sorted(set(planned) | set(written))
        if planned.get(k, 0) != written.get(k, 0)
    }


def _write_checks(
    planned: dict[str, int], result: WriteResult, found: Verification
) -> list[dg.AssetCheckResult]:
    diff = _plan_difference(planned, result.counts())
    return [
        dg.AssetCheckResult(
            check_name="rows_written_match_plan",
            passed=not diff,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"differences (planned, written)": dg.MetadataValue.json(diff)},
        ),
        dg.AssetCheckResult(
            check_name="written_paths_exist_in_storage",
            passed=bool(found.gone.empty and found.not_in_database.empty),
            metadata={
                "checked": found.checked,
                "not_in_database": len(found.not_in_database),
                "first_not_in_database": md_table(found.not_in_database),
                "sampled_in_storage": len(found.sampled),
                "missing": len(found.gone),
                "first_missing": md_table(found.gone, ["value", "key"]),
            },
        ),
        dg.AssetCheckResult(
            check_name="roles_point_at_gallery_paths",
            passed=bool(found.bad_roles.empty),
            metadata={
                "products_checked": found.products,
                "bad_roles": len(found.bad_roles),
                "first_bad_roles": md_table(found.bad_roles),
            },
        ),
    ]


@dg.asset(
    **BATCH_ASSET,
    kinds={"python", "mysql"},
    pool=MAGENTO_POOL,
    op_tags={KEEP_OUTPUT_TAG: "partition"},
    description=(
        "The write: applies gallery_delta's plan to Magento's gallery tables in chunks of SKUs (one "
        "transaction each, a constant number of statements per chunk). Under the writer lock each chunk's "
        "fingerprint is compared with the plan's; a chunk someone changed since is planned again, so a stale "
        "plan can never corrupt the gallery. Roles, labels, positions, disabled flags and ETags."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "blast_radius",
            asset="magento_gallery",
            partitions_def=pim_batches,
            description="The batch stays within the guard's limits (images removed, galleries "
            "emptied, base images changed, products touched), or was approved by the "
            f"run tag {TAG_APPROVE_BLAST_RADIUS}=<batch key>. Measured before any write.",
        ),
        dg.AssetCheckSpec(
            "rows_written_match_plan",
            asset="magento_gallery",
            partitions_def=pim_batches,
            description="What was written equals what gallery_delta planned.",
        ),
        dg.AssetCheckSpec(
            "written_paths_exist_in_storage",
            asset="magento_gallery",
            partitions_def=pim_batches,
            description="Every path written is in the database with the ETag written, and a "
            f"sample of them (up to {STORAGE_SAMPLE}) is present in storage now.",
        ),
        dg.AssetCheckSpec(
            "roles_point_at_gallery_paths",
            asset="magento_gallery",
            partitions_def=pim_batches,
            description="Every role (image, small_image, thumbnail, swatch_image) of the batch's "
            "products points at a path of the product's gallery, or no_selection.",
        ),
    ],
)
def magento_gallery(
    context: dg.AssetExecutionContext,
    config: GalleryWriteConfig,
    magento: MagentoDatabaseResource,
    object_store: ObjectStoreResource,
    gallery_delta: GalleryPlan,
) -> Iterator[dg.Output[GalleryChanges] | dg.AssetCheckResult]:
    """Write the plan into Magento's gallery tables; yield what changed with the write's checks."""
    plan = gallery_delta  # the GalleryPlan: the write applies it, re-planning only chunks changed since
    durations: dict[str, float] = {}
    with phase(durations, "blast_radius"):
        radius, shown = measure_plan(magento.get_database(), plan, config.blast_limits)
    approval = _approval(context, radius)
    yield _blast_radius_check(radius, approval, shown)
    if not radius.within_limits and approval is None:
        raise dg.Failure(
            description=(
                f"batch {context.partition_key}: blast radius over the limit, nothing was written. "
                f"{radius.message()}. If this is what you want, re-execute the partition with the run tag "
                f"{TAG_APPROVE_BLAST_RADIUS}={context.partition_key}."
            ),
            metadata={**_blast_metadata(radius, approval), **preview_metadata(shown)},
        )
    db = magento.get_database()
    tables = WrittenTables()

    def written(delta: GalleryDelta) -> None:
        verifier.submit(delta)
        tables.add(delta)

    with ChunkVerifier(db) as verifier:  # each chunk checked while the next one is written
        with phase(durations, "write"), reported_failures():
            result = write_gallery(
                db,
                plan,
                run_id=context.run.run_id,
                progress=context.log.info,
                on_written=written,
                keep_delta=False,  # summed chunk by chunk (memory of one chunk): the summary and `tables`
            )
        with phase(durations, "verify"), reported_failures():
            found = verify_write(
                db,
                result,
                storage_lookup(object_store.get_store(), object_store.concurrency),
                media_prefix=object_store.media_prefix,
                seed=context.run.run_id,
                durations=durations,
                verifier=verifier,
            )
    changes = GalleryChanges(
        changed_entity_ids=[int(i) for i in result.changed_entity_ids],
        content_changed_values=sorted(tables.content_changed),
    )
    yield dg.Output(
        changes,
        metadata={
            **_write_metadata(result, tables, plan.mode, durations),
            **_blast_metadata(radius, approval),
        },
    )
    yield from _write_checks(gallery_delta.counts(), result, found)


def _approval(context: dg.AssetExecutionContext, radius: BlastRadius) -> str | None:
    """How an over-limit batch was approved (None: not approved, or nothing to approve).

    Only the run tag naming this very batch approves it: a backfill or a re-execution carrying another batch's
    approval does not.
    """
    if radius.within_limits or context.run.tags.get(TAG_APPROVE_BLAST_RADIUS) != context.partition_key:
        return None
    return f"run {context.run.run_id[:8]}: {TAG_APPROVE_BLAST_RADIUS}={context.partition_key}"


def _blast_metadata(radius: BlastRadius, approval: str | None) -> dict[str, dg.MetadataValue]:
    return {
        "blast_radius": dg.MetadataValue.json(radius.figures),
        "blast_radius_exceeded": md_table(radius.table()),
        "blast_radius_approved": dg.MetadataValue.text(approval or ("-" if radius.within_limits else "no")),
    }


def _blast_radius_check(radius: BlastRadius, approval: str | None, shown: Preview) -> dg.AssetCheckResult:
    if radius.within_limits:
        description = "within every limit"
    elif approval:
        description = f"over the limit, approved ({approval}): {radius.message()}"
    else:
        description = f"over the limit, nothing written: {radius.message()}"
    return dg.AssetCheckResult(
        check_name="blast_radius",
        passed=radius.within_limits or approval is not None,
        description=description,
        metadata={**_blast_metadata(radius, approval), **preview_metadata(shown)},
    )
