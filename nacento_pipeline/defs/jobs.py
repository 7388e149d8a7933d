"""Jobs: one run per PIM batch partition, and the gallery audit (unpartitioned: it reads the whole catalog
as it is now, so a day partition would only be a label)."""

import dagster as dg

from nacento_pipeline.defs.constants import AUDIT_GROUP, AUDIT_JOB, BATCH_GROUP, BATCH_JOB, VALIDATE_JOB
from nacento_pipeline.defs.hooks import carry_over_check_results, release_consumed_frames
from nacento_pipeline.defs.partitions import pim_batches

# Frames passed between assets are deleted once the run no longer needs them (resources/io_manager.py); a
# failed batch run keeps the checks tab on the last real verdicts (defs/hooks.py).
BATCH_HOOKS = {release_consumed_frames, carry_over_check_results}

pim_batch_job = dg.define_asset_job(
    name=BATCH_JOB,
    selection=dg.AssetSelection.groups(BATCH_GROUP),
    partitions_def=pim_batches,
    # The five steps form a chain: one process per run starts them ~5 s sooner each than one per step.
    executor_def=dg.in_process_executor,
    hooks=BATCH_HOOKS,
    description="Parse, snapshot ETags, plan the delta, write the gallery and decide the reindex for one batch.",
)

pim_batch_validate_job = dg.define_asset_job(
    name=VALIDATE_JOB,
    selection=dg.AssetSelection.assets("pim_batch", "image_etags", "gallery_delta"),
    partitions_def=pim_batches,
    executor_def=dg.in_process_executor,
    hooks=BATCH_HOOKS,
    description=(
        "Validation only: parse the batch, snapshot ETags and plan the delta; Magento is read, never written. "
        "Launch it for a partition to see what a batch would change before running pim_batch_job."
    ),
)

gallery_audit_job = dg.define_asset_job(
    name=AUDIT_JOB,
    selection=dg.AssetSelection.groups(AUDIT_GROUP),
    executor_def=dg.in_process_executor,
    hooks={release_consumed_frames},
    description="Reconcile Magento galleries with storage for the whole catalog.",
)
