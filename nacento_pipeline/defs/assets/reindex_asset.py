"""`reindex_decision`: per indexer full / partial / none after the gallery write, explained, and triggered."""

from collections import Counter
from collections.abc import Iterable

import dagster as dg

from nacento_pipeline.core.reindex.decision import ReindexDecision, decisions_markdown
from nacento_pipeline.defs.assets.batch_assets import GalleryChanges
from nacento_pipeline.defs.assets.metadata import BATCH_ASSET, duration_metadata, phase
from nacento_pipeline.defs.constants import TAG_REINDEX
from nacento_pipeline.defs.step_failures import reported_failures
from nacento_pipeline.resources.cache import CacheResource
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.resources.reindex import ReindexResource
from nacento_pipeline.storage.image_cache import purge_resized_images


def run_reindex_tag(decisions: Iterable[ReindexDecision]) -> str:
    """The strongest decision of the run: `full` beats `partial` beats `none` (operators filter on it)."""
    kinds = {d.decision for d in decisions}
    return "full" if "full" in kinds else "partial" if "partial" in kinds else "none"


@dg.asset(
    **BATCH_ASSET,
    kinds={"python", "mysql"},
    description=(
        "Per managed indexer: full, partial (with entity ids) or none, the purpose that decided it "
        "(on-save, reindex-required, threshold) and the numbers compared; then triggered (changelog rows, "
        "invalidation, or a command) and optionally Magento's resized-image cache purged."
    ),
)
def reindex_decision(
    context: dg.AssetExecutionContext,
    magento: MagentoDatabaseResource,
    reindex: ReindexResource,
    object_store: ObjectStoreResource,
    cache: CacheResource,
    magento_gallery: GalleryChanges,
) -> dg.MaterializeResult:
    """Decide and trigger the reindex for what the batch's write changed."""
    return dg.MaterializeResult(
        metadata=decide_and_trigger(context, magento, reindex, object_store, cache, magento_gallery)
    )


def decide_and_trigger(
    context: dg.AssetExecutionContext | dg.OpExecutionContext,
    magento: MagentoDatabaseResource,
    reindex: ReindexResource,
    object_store: ObjectStoreResource,
    cache: CacheResource,
    magento_gallery: GalleryChanges,
) -> dict[str, dg.MetadataValue]:
    """The reindex step after a write (a batch's, or a revert's): decide, trigger, purge resized images.

    Decides per indexer, triggers, and with the cache's `purge_image_cache` deletes the resized copies of
    the images whose content changed; returns the metadata reporting it. `magento_gallery`: what the write
    changed.
    """
    db = magento.get_database()
    durations: dict[str, float] = {}
    changed = set(magento_gallery.changed_entity_ids)
    with phase(durations, "decide"), reported_failures():
        decisions = reindex.decide(db.engine, db.prefix, changed)
    with phase(durations, "trigger"), reported_failures():
        report = reindex.trigger(db.engine, db.prefix).apply(decisions, context.log.info)
    metadata: dict[str, dg.MetadataValue] = {}
    if cache.purge_image_cache:
        with phase(durations, "cache_purge"):
            purge = purge_resized_images(
                object_store.get_store(),
                magento_gallery.content_changed_values,
                object_store.media_cache_prefix,
            )
        metadata["cache_purged"] = dg.MetadataValue.int(purge.deleted)
        metadata["cache_purge"] = dg.MetadataValue.text(purge.summary())
    counts = Counter(d.decision for d in decisions)
    tag = run_reindex_tag(decisions)
    context.instance.add_run_tags(context.run.run_id, {TAG_REINDEX: tag})
    return {
        "decisions": dg.MetadataValue.md(decisions_markdown(decisions)),
        "trigger": dg.MetadataValue.text(reindex.trigger_kind),
        "trigger_report": dg.MetadataValue.md(report.markdown()),
        "changed_products": dg.MetadataValue.int(len(changed)),
        "full": dg.MetadataValue.int(counts.get("full", 0)),
        "partial": dg.MetadataValue.int(counts.get("partial", 0)),
        "none": dg.MetadataValue.int(counts.get("none", 0)),
        "run_tag": dg.MetadataValue.text(f"{TAG_REINDEX}={tag}"),
        **metadata,
        **duration_metadata(durations),
    }
