"""`revert_batch`: undo a batch from the undo journal, for one `pim_batches` partition, from the UI.

Three ops: the restore (magento.journal.revert_batch: each product back to its before-image where its rows
are still exactly what the batch left, the others listed and left alone unless `force`), then the same
reindex step and storefront cache step a batch runs (their code is the batch assets' own). The restore is
reported as a materialization of `magento_gallery` for the partition, so the batch's page shows the revert.
"""

from collections.abc import Mapping

import dagster as dg

from nacento_pipeline.defs.assets.batch_assets import GalleryChanges
from nacento_pipeline.defs.assets.metadata import int_metadata
from nacento_pipeline.defs.assets.reindex_asset import decide_and_trigger
from nacento_pipeline.defs.assets.storefront_cache_asset import clean_storefront
from nacento_pipeline.defs.constants import MAGENTO_POOL, REVERT_JOB
from nacento_pipeline.defs.partitions import pim_batches
from nacento_pipeline.magento.journal import RevertRefused, first_products, revert_batch
from nacento_pipeline.resources.cache import CacheResource
from nacento_pipeline.resources.magento_db import MagentoDatabaseResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.resources.reindex import ReindexResource


class RevertConfig(dg.Config):
    """Run config of the revert (Launchpad: ops > restore_before_images > config)."""

    force: bool = (
        False  # restore products changed since the batch too (a later batch's or an admin's edit is lost)
    )


@dg.op(
    pool=MAGENTO_POOL,
    description="Restores the batch's products to their before-images from the undo journal.",
)
def restore_before_images(
    context: dg.OpExecutionContext, config: RevertConfig, magento: MagentoDatabaseResource
) -> GalleryChanges:
    """Restore the partition's batch from the undo journal; report it as magento_gallery's event."""
    key = context.partition_key
    try:
        result = revert_batch(
            magento.get_database(),
            key,
            run_id=context.run.run_id,
            force=config.force,
            chunk_size=magento.chunk_size,
            retention_days=magento.journal_retention_days,
        )
    except RevertRefused as exc:
        raise dg.Failure(description=f"{exc}. Nothing was changed.") from exc
    metadata = {
        **int_metadata(result.counts()),
        "force": dg.MetadataValue.bool(config.force),
        "first_reverted": dg.MetadataValue.text(first_products(result.reverted)),
        "first_skipped_changed_since": dg.MetadataValue.text(first_products(result.skipped)),
        "reverted_batch": dg.MetadataValue.text(key),
    }
    if len(result.skipped):
        context.log.warning(
            f"{len(result.skipped)} product(s) changed since batch {key} were left alone: "
            f"{first_products(result.skipped)} (run config force: true restores them too)"
        )
    context.log_event(
        dg.AssetMaterialization(
            asset_key="magento_gallery",
            partition=key,
            description=f"revert of batch {key}",
            metadata=metadata,
        )
    )
    context.add_output_metadata(metadata)
    return GalleryChanges(changed_entity_ids=result.changed_entity_ids, content_changed_values=[])


@dg.op(description="The reindex decision for the reverted products, triggered, as after a batch.")
def reindex_reverted(
    context: dg.OpExecutionContext,
    magento: MagentoDatabaseResource,
    reindex: ReindexResource,
    object_store: ObjectStoreResource,
    cache: CacheResource,
    changes: GalleryChanges,
) -> GalleryChanges:
    """The reindex step for the reverted products."""
    context.add_output_metadata(decide_and_trigger(context, magento, reindex, object_store, cache, changes))
    return changes


@dg.op(
    description="The storefront caches of the reverted products and their parents cleaned, as after a batch."
)
def clean_reverted(
    context: dg.OpExecutionContext,
    magento: MagentoDatabaseResource,
    cache: CacheResource,
    reindex: ReindexResource,
    changes: GalleryChanges,
) -> None:
    """The storefront cache step for the reverted products."""
    cleaned = clean_storefront(context, magento, cache, reindex, changes)
    context.add_output_metadata(
        {**cleaned.metadata, "storefront_fresh": dg.MetadataValue.text(cleaned.freshness)}
    )


@dg.graph(name=REVERT_JOB)
def revert_batch_graph() -> None:
    """Restore, then reindex, then clean the caches."""
    clean_reverted(reindex_reverted(restore_before_images()))


def build_revert_job(run_tags: Mapping[str, str]) -> dg.JobDefinition:
    """The job, with the run tags of every job that writes Magento (definitions.py)."""
    return revert_batch_graph.to_job(
        name=REVERT_JOB,
        partitions_def=pim_batches,
        executor_def=dg.in_process_executor,
        run_tags=run_tags,
        description=(
            "Undo a batch: its products back to how they were before it (from the undo journal), where "
            "nobody changed them since (force: all of them), then reindex and storefront caches."
        ),
    )
