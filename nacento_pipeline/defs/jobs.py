"""Jobs: one run per PIM batch partition, and the gallery audit.

The audit is unpartitioned: it reads the whole catalog as it is now, so a day partition would only be a
label.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from nacento_pipeline.defs.constants import AUDIT_GROUP, AUDIT_JOB, BATCH_GROUP, BATCH_JOB, VALIDATE_JOB
from nacento_pipeline.defs.hooks import carry_over_check_results, release_consumed_frames
from nacento_pipeline.defs.partitions import pim_batches
from nacento_pipeline.resources.dagster_internals import (
    IN_PROC_CONFIG,
    MULTI_PROC_CONFIG,
    UnresolvedAssetJobDefinition,
)

# Frames passed between assets are deleted once the run no longer needs them (resources/io_manager.py); a
# failed batch run keeps the checks tab on the last real verdicts (defs/hooks.py).
BATCH_HOOKS = {release_consumed_frames, carry_over_check_results}

# Run config selecting each executor of STEP_EXECUTOR. The five steps form a chain: one step process at a
# time.
IN_PROCESS_CONFIG: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}
STEP_PROCESSES_CONFIG: dict[str, Any] = {"execution": {"config": {"multiprocess": {"max_concurrent": 1}}}}


def with_job_defaults(
    job: dg.JobDefinition, partition_key: str, run_config: Mapping[str, Any]
) -> dict[str, Any]:
    """`run_config` merged over the job's default run config for the partition (the NACENTO_* policy).

    A partitioned job's default config is what a run gets when it is given none: a run config given instead
    replaces it whole. So whoever adds some config of its own (the drop sensor's executor, a log level) merges
    it over the default here, key by key.
    """
    defaults = (
        job.partitioned_config.get_run_config_for_partition_key(partition_key)
        if job.partitioned_config
        else {}
    )
    return _merged(defaults, run_config)


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = _merged(out[key], value) if both else value
    return out


def _as_given(config: dict[str, Any]) -> dict[str, Any]:
    return config


# Dagster's multi_or_in_process_executor, defaulting to in_process instead of multiprocess: one process per
# run starts the five steps ~5 s sooner each, but every step's allocator-held memory then adds up in that
# process.
# A big batch's run config (the drop sensor's, see STEP_PROCESSES_CONFIG) runs each step in a process of its
# own, whose memory returns to the OS when the step ends: the run's peak is its biggest step, not their sum.
STEP_EXECUTOR = dg.multi_or_in_process_executor.configured(
    _as_given,
    config_schema=dg.Field(
        dg.Selector({"multiprocess": MULTI_PROC_CONFIG, "in_process": IN_PROC_CONFIG}),
        default_value={"in_process": {}},
    ),
)


def build_pim_batch_job(
    run_tags: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None
) -> UnresolvedAssetJobDefinition:
    """The batch job; `run_tags` go on every run, `config` is its default run config.

    definitions.py passes the Magento database the runs write as a tag and the NACENTO_* policy as config.
    """
    return dg.define_asset_job(
        name=BATCH_JOB,
        selection=dg.AssetSelection.groups(BATCH_GROUP),
        partitions_def=pim_batches,
        executor_def=STEP_EXECUTOR,  # in_process unless the run config asks for step processes
        hooks=BATCH_HOOKS,
        run_tags=run_tags,
        config=config,
        description=(
            "Parse, snapshot ETags, plan the delta, write the gallery and decide the reindex for one batch."
        ),
    )


def build_gallery_audit_job(run_tags: Mapping[str, str] | None = None) -> UnresolvedAssetJobDefinition:
    """The audit job; `run_tags` as for the batch job (`fix` writes Magento too)."""
    return dg.define_asset_job(
        name=AUDIT_JOB,
        selection=dg.AssetSelection.groups(AUDIT_GROUP),
        executor_def=dg.in_process_executor,
        hooks={release_consumed_frames},
        run_tags=run_tags,
        description="Reconcile Magento galleries with storage for the whole catalog.",
    )


# Untagged, for what refers to the jobs by name (the batch status sensor's monitored job, tests).
pim_batch_job = build_pim_batch_job()


VALIDATE_ASSETS = ("pim_batch", "image_etags", "gallery_delta")


def build_pim_batch_validate_job(
    run_tags: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None
) -> UnresolvedAssetJobDefinition:
    """The validation job (plans, never writes); `run_tags` and `config` as for the batch job."""
    return dg.define_asset_job(
        name=VALIDATE_JOB,
        selection=dg.AssetSelection.assets(*VALIDATE_ASSETS),
        partitions_def=pim_batches,
        executor_def=STEP_EXECUTOR,
        hooks=BATCH_HOOKS,
        run_tags=run_tags,
        config=config,
        description=(
            "Validation only: parse the batch, snapshot ETags and plan the delta; Magento is read, never "
            "written. Launch it for a partition to see what a batch would change before running "
            "pim_batch_job."
        ),
    )


pim_batch_validate_job = build_pim_batch_validate_job()
gallery_audit_job = build_gallery_audit_job()
