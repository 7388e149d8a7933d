"""`storefront_cache`: after the write (and the reindex trigger), Magento's caches are cleaned.

They are cleaned for the changed products and their parents; the `storefront_fresh` check says whether the
shop shows the batch yet.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg

from nacento_pipeline.cache.invalidation import invalidate_storefront
from nacento_pipeline.core.failure_text import failure_text
from nacento_pipeline.defs.assets.batch_assets import GalleryChanges
from nacento_pipeline.defs.assets.metadata import BATCH_ASSET, md_table
from nacento_pipeline.defs.partitions import pim_batches
from nacento_pipeline.resources.cache import CacheResource
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.reindex import ReindexResource

TAGS_SHOWN = 50


@dg.asset(
    **BATCH_ASSET,
    kinds={"python"},
    deps=["reindex_decision"],
    description=(
        "Cleans Magento's page cache for the products the write changed and their parents (cat_p_<id>, as "
        "Magento's product save does) through NACENTO_CACHE_BACKEND (none, varnish, redis, command), and, "
        "with NACENTO_PURGE_IMAGE_CACHE, Magento's cached facts about changed image files. Idempotent; "
        "transient errors are retried; a failure never undoes or fails the committed write: it fails the "
        "storefront_fresh check instead."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "storefront_fresh",
            asset="storefront_cache",
            partitions_def=pim_batches,
            description="The shop shows this batch: caches cleaned and no managed indexer still has its "
            "products pending (changelog not applied yet, or invalid awaiting a rebuild). "
            "Re-materialize storefront_cache to re-evaluate.",
        ),
    ],
)
def storefront_cache(
    context: dg.AssetExecutionContext,
    magento: MagentoDatabaseResource,
    cache: CacheResource,
    reindex: ReindexResource,
    magento_gallery: GalleryChanges,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Clean the storefront caches after the batch's write and check the shop shows it."""
    cleaned = clean_storefront(context, magento, cache, reindex, magento_gallery)
    yield dg.MaterializeResult(metadata=cleaned.metadata)
    yield dg.AssetCheckResult(
        check_name="storefront_fresh",
        passed=cleaned.fresh,
        severity=dg.AssetCheckSeverity.WARN,
        description=cleaned.freshness,
        metadata=cleaned.check_metadata,
    )


@dataclass(frozen=True)
class Cleaned:
    """What the cache step did (metadata) and whether the shop shows the write yet."""

    metadata: dict[str, dg.MetadataValue]
    fresh: bool
    freshness: str
    check_metadata: dict[str, dg.MetadataValue]


def clean_storefront(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    magento: MagentoDatabaseResource,
    cache: CacheResource,
    reindex: ReindexResource,
    magento_gallery: GalleryChanges,
) -> Cleaned:
    """The cache step after a write (a batch's, or a revert's), and whether the shop shows the write.

    The changed products' and their parents' pages are cleaned, then whether a managed indexer still has
    them pending is read. `magento_gallery`: GalleryChanges.
    """
    db = magento.get_database()
    images = sorted(magento_gallery.content_changed_values) if cache.purge_image_cache else []
    try:
        backend = cache.get_backend()
    except Exception as exc:  # a misconfigured backend must not fail the committed write either
        backend, setup_error = None, failure_text(exc)
    else:
        setup_error = ""
    if backend is not None:
        done = invalidate_storefront(
            db.engine,
            backend,
            magento_gallery.changed_entity_ids,
            images,
            prefix=db.prefix,
            attempts=cache.retries,
            log=context.log.warning,
        )
        errors = list(done.errors)
    else:
        done, errors = None, [setup_error]
    for error in errors:
        context.log.error(f"storefront cache not cleaned: {error}")
    metadata: dict[str, dg.MetadataValue] = {
        "backend": dg.MetadataValue.text(cache.backend),
        "status": dg.MetadataValue.text("failed" if errors else "ok"),
    }
    if done is not None:
        metadata.update(
            {
                "changed_products": dg.MetadataValue.int(len(done.changed_ids)),
                "parent_products": dg.MetadataValue.int(len(done.parent_ids)),
                "tags": dg.MetadataValue.int(len(done.tags)),
                "first_tags": dg.MetadataValue.text(
                    ", ".join(done.tags[:TAGS_SHOWN]) + (" ..." if len(done.tags) > TAGS_SHOWN else "")
                ),
                "image_values": dg.MetadataValue.int(len(done.image_values)),
                "requests": dg.MetadataValue.int(done.requests),
                "hosts": dg.MetadataValue.text(", ".join(done.targets) or "-"),
                "entries_removed": dg.MetadataValue.int(done.entries_removed),
                "retries": dg.MetadataValue.int(done.retries),
                "duration_cache_s": dg.MetadataValue.float(done.seconds),
                "reports": dg.MetadataValue.md(
                    "\n".join(f"- {r.summary()}" for r in done.reports) or "_nothing to clean_"
                ),
            }
        )
        if done.notes:
            metadata["notes"] = dg.MetadataValue.text("; ".join(done.notes))
    if errors:
        metadata["errors"] = dg.MetadataValue.text("; ".join(errors))
    pending = reindex.pending_indexers(db.engine, db.prefix, magento_gallery.changed_entity_ids)
    reasons = list(errors)
    if not pending.empty:
        reasons.append(
            "indexers pending: " + ", ".join(f"{r.indexer} ({r.reason})" for r in pending.itertuples())
        )
    return Cleaned(
        metadata=metadata,
        fresh=not reasons,
        freshness="fresh" if not reasons else "not fresh: " + "; ".join(reasons),
        check_metadata={
            "cache_status": dg.MetadataValue.text("failed" if errors else "ok"),
            "pending_indexers": dg.MetadataValue.int(len(pending)),
            "pending": md_table(pending),
        },
    )
