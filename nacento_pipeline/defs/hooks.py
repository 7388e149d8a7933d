"""The jobs' hooks: stored frames released once consumed, and the checks tab kept truthful after a failed run.

`release_consumed_frames` (a success hook) applies the IO manager's retention policy (see
`resources/io_manager.py`).

Dagster records every check of a run as planned when the run starts; when the run fails before a check's
step runs (a batch that fails in `pim_batch`), that planned record resolves to "Execution failed" and
becomes the partition's latest verdict, painting `magento_gallery`'s checks red although nothing was
written and nothing was checked. Checks cannot be left out of the plan in advance (nobody knows the run will
fail), and an asset with check specs cannot be subset at launch.

`carry_over_check_results` (a failure hook on the jobs) therefore re-reports, for each check of the failed
step and of every step downstream of it that is still only planned, the partition's last real evaluation,
as a run-less evaluation naming the failed run. The asset was not materialized again, so that verdict still
describes the current materialization (it keeps its target materialization). A partition never checked
before has no verdict to carry and keeps Dagster's own "Execution failed".
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from nacento_pipeline.resources.dagster_internals import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
    ExecutionPlanSnapshot,
    PartitionKeyFilter,
)
from nacento_pipeline.resources.io_manager import KEEP_OUTPUT_TAG, RunScopedPickleIOManager

PARTITION_TAG = "dagster/partition"
REAL_RESULTS = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}


def output_readers(
    plan: ExecutionPlanSnapshot, steps: set[str] | None = None
) -> dict[tuple[str, str], set[str]]:
    """(step key, output name) -> the steps of the plan (of `steps` when given) that read that output."""
    readers: dict[tuple[str, str], set[str]] = {}
    for step in plan.steps:
        if steps is not None and step.key not in steps:
            continue
        for step_input in step.inputs:
            for handle in step_input.upstream_output_handles:
                readers.setdefault((handle.step_key, handle.output_name), set()).add(step.key)
    return readers


def downstream_steps(plan: ExecutionPlanSnapshot, step_key: str) -> set[str]:
    """The step and every step of the plan that reads from it, directly or not."""
    readers: dict[str, set[str]] = {}
    for (writer, _output), steps in output_readers(plan).items():
        readers.setdefault(writer, set()).update(steps)
    found, todo = {step_key}, [step_key]
    while todo:
        for reader in readers.get(todo.pop(), set()) - found:
            found.add(reader)
            todo.append(reader)
    return found


def planned_checks(plan: ExecutionPlanSnapshot, steps: set[str]) -> Iterator[dg.AssetCheckKey]:
    """The asset checks the plan's `steps` evaluate."""
    for step in plan.steps:
        if step.key in steps:
            for output in step.outputs:
                if output.properties is not None and output.properties.asset_check_key is not None:
                    yield output.properties.asset_check_key


def _latest(
    instance: dg.DagsterInstance,
    key: dg.AssetCheckKey,
    partition: str,
    statuses: set[AssetCheckExecutionRecordStatus] | None = None,
) -> AssetCheckExecutionRecord | None:
    records = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=statuses, partition_filter=PartitionKeyFilter(key=partition)
    )
    return records[0] if records else None


def carried_evaluation(
    record: AssetCheckExecutionRecord, failed_run_id: str
) -> dg.AssetCheckEvaluation | None:
    """The record's evaluation, re-stated as still current after the failed run."""
    last = record.evaluation
    if last is None:
        return None
    carried = last.metadata.get("carried_over_from_run")  # carried before: name the run that evaluated it
    origin = str(carried.value) if carried is not None else record.run_id
    return dg.AssetCheckEvaluation(
        asset_key=last.asset_key,
        check_name=last.check_name,
        passed=last.passed,
        metadata={
            **last.metadata,
            "carried_over_from_run": dg.MetadataValue.text(origin),
            "not_run_in_failed_run": dg.MetadataValue.text(failed_run_id),
        },
        target_materialization_data=last.target_materialization_data,
        severity=last.severity,
        description=(
            f"Last real result (run {origin[:8]}); run {failed_run_id[:8]} failed before this "
            "check could run and materialized nothing it checks."
        ),
        blocking=last.blocking,
        partition=last.partition,
    )


@dg.failure_hook
def carry_over_check_results(context: dg.HookContext) -> None:
    """On a failed step, the checks after it keep the partition's last real verdict (not "planned")."""
    instance = context.instance
    run = instance.get_run_by_id(context.run_id)
    partition = run.tags.get(PARTITION_TAG) if run is not None else None
    if run is None or partition is None or not run.execution_plan_snapshot_id:
        return
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    for key in planned_checks(plan, downstream_steps(plan, context.step_key)):
        now = _latest(instance, key, partition)
        if now is None or now.run_id != run.run_id or now.status != AssetCheckExecutionRecordStatus.PLANNED:
            continue  # evaluated in this run after all, or not planned here
        last = _latest(instance, key, partition, REAL_RESULTS)
        carried = carried_evaluation(last, run.run_id) if last is not None else None
        if carried is not None:
            instance.report_runless_asset_event(carried)
            context.log.info(f"check {key.to_user_string()} [{partition}]: last real result carried over")


def _succeeded_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records
    return {r.event_log_entry.step_key for r in records if r.event_log_entry.step_key}


def released_outputs(plan: ExecutionPlanSnapshot, done: set[str]) -> list[dg.AssetKey]:
    """Asset outputs of finished steps whose readers in this plan have all finished (no reader: released).

    Those of steps tagged KEEP_OUTPUT_TAG are never released.
    """
    planned = set(plan.step_keys_to_execute or [s.key for s in plan.steps])
    readers = output_readers(plan, planned)
    released = []
    for step in plan.steps:
        if step.key not in done or step.key not in planned or (step.tags or {}).get(KEEP_OUTPUT_TAG):
            continue
        for output in step.outputs:
            key = output.properties.asset_key if output.properties else None
            if key is not None and readers.get((step.key, output.name), set()) <= done:
                released.append(key)
    return released


@dg.success_hook(required_resource_keys={"io_manager"})
def release_consumed_frames(context: dg.HookContext) -> None:
    """After each step: delete the run's stored frames that no step of the run still has to read."""
    io_manager = context.resources.io_manager
    run = context.instance.get_run_by_id(context.run_id)
    if (
        not isinstance(io_manager, RunScopedPickleIOManager)
        or run is None
        or not run.execution_plan_snapshot_id
    ):
        return
    plan = context.instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    done = _succeeded_steps(context.instance, context.run_id) | {context.step_key}
    partition = run.tags.get(PARTITION_TAG)
    deleted = io_manager.delete_frames(released_outputs(plan, done), partition)
    if deleted:
        context.log.debug(f"released {len(deleted)} stored frame(s): {', '.join(deleted)}")
