"""Scheduled partition runs: catch-up of batches whose newest run did not succeed, and the daily audit."""

import dagster as dg

from nacento_pipeline.core.catchup import FAILED, CatchupPlan, PartitionRuns, plan_catchup
from nacento_pipeline.core.retry import run_failure_is_permanent
from nacento_pipeline.defs.constants import (
    AUDIT_SCHEDULE,
    BATCH_JOB,
    CATCHUP_SCHEDULE,
    PARTITIONS_NAME,
    TAG_SOURCE,
)
from nacento_pipeline.defs.hooks import PARTITION_TAG
from nacento_pipeline.resources.dagster_internals import SerializableErrorInfo, UnresolvedAssetJobDefinition


def recorded_chain(error: SerializableErrorInfo | None) -> list[tuple[str, str]]:
    """(class name, message) of a recorded error and of its causes and contexts.

    The message without the `module.Class: ` Dagster puts before it, as core.retry.recorded_error_retriable
    reads them.
    """
    chain: list[tuple[str, str]] = []
    todo = [error]
    while todo and len(chain) < 20:
        current = todo.pop()
        if current is None:
            continue
        name = current.cls_name or ""
        head, sep, rest = current.message.partition(": ")
        message = rest if sep and name and head.rsplit(".", 1)[-1] == name else current.message
        chain.append((name, message))
        todo.extend((current.cause, current.context))
    return chain


def step_errors(instance: dg.DagsterInstance, run_id: str) -> list[list[tuple[str, str]]]:
    """The errors of the run's failed steps, each as its recorded chain (recorded_chain)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=100
    ).records
    errors = []
    for record in records:
        event = record.event_log_entry.dagster_event
        error = event.step_failure_data.error if event is not None and event.step_failure_data else None
        if error is not None:
            errors.append(recorded_chain(error))
    return errors


def partition_runs(
    instance: dg.DagsterInstance, keys: set[str], max_attempts: int
) -> dict[str, PartitionRuns]:
    """The runs of each batch partition in `keys` as core.catchup reads them.

    From the run storage's per-partition view (the newest run of every partition, one query over all runs:
    nothing ages out however many runs the instance holds); a partition whose newest run failed gets its last
    `max_attempts` runs (the failures in a row) and the cause of that failure (core.retry).
    """
    newest = {
        data.partition: data
        for data in instance.get_run_partition_data(dg.RunsFilter(job_name=BATCH_JOB))
        if data.partition in keys
    }
    runs: dict[str, PartitionRuns] = {}
    for key, data in newest.items():
        if data.status.value not in FAILED:
            runs[key] = PartitionRuns((data.status.value,))
            continue
        recent = instance.get_runs(
            dg.RunsFilter(job_name=BATCH_JOB, tags={PARTITION_TAG: key}), limit=max_attempts
        )
        statuses = tuple(run.status.value for run in recent) or (data.status.value,)
        runs[key] = PartitionRuns(statuses, run_failure_is_permanent(step_errors(instance, data.run_id)))
    return runs


def catchup_run_requests(
    instance: dg.DagsterInstance, *, max_attempts: int = 3, limit: int = 20
) -> tuple[list[dg.RunRequest], CatchupPlan]:
    """Run requests for registered batches whose newest run did not succeed (plus what was left alone)."""
    registered = list(instance.get_dynamic_partitions(PARTITIONS_NAME))
    plan = plan_catchup(
        registered,
        partition_runs(instance, set(registered), max_attempts),
        max_attempts=max_attempts,
        limit=limit,
    )
    requests = []
    for key in plan.to_run:
        # one key per attempt: the number of runs so far (of any status) never repeats
        count = instance.get_runs_count(dg.RunsFilter(job_name=BATCH_JOB, tags={PARTITION_TAG: key}))
        requests.append(
            dg.RunRequest(partition_key=key, run_key=f"catchup:{key}:{count}", tags={TAG_SOURCE: "catchup"})
        )
    return requests, plan


def build_catchup_schedule(every_minutes: int = 5) -> dg.ScheduleDefinition:
    """The catch-up schedule: every `every_minutes`, runs for batches whose newest run did not succeed."""

    @dg.schedule(
        name=CATCHUP_SCHEDULE,
        job_name=BATCH_JOB,
        cron_schedule=f"*/{every_minutes} * * * *",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Requests runs for registered batches whose newest run did not succeed or that never ran (daemon "
            "was down, a run died or failed on a retriable error); never re-runs a run that failed for a "
            "permanent cause (e.g. a parse error); gives up on a batch after 3 failed runs in a row."
        ),
    )
    def pim_catchup_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest] | dg.SkipReason:
        requests, plan = catchup_run_requests(context.instance)
        if plan.given_up:
            context.log.warning(f"left for an operator after repeated failures: {', '.join(plan.given_up)}")
        if plan.permanent:
            context.log.warning(f"not re-run, failed for a permanent cause: {', '.join(plan.permanent)}")
        if not requests:
            summary = (
                f"nothing to catch up ({plan.done} batch(es) written, {len(plan.in_flight)} running, "
                f"{len(plan.given_up)} given up, {len(plan.permanent)} failed for a permanent cause)"
            )
            if plan.given_up:  # first, so the tick list shows which batches need an operator
                shown = ", ".join(plan.given_up[:10]) + (" ..." if len(plan.given_up) > 10 else "")
                summary = (
                    f"GIVEN UP on {len(plan.given_up)} batch(es), an operator must look: {shown} | {summary}"
                )
            return dg.SkipReason(summary)
        return requests

    return pim_catchup_schedule


def build_audit_schedule(job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """The daily audit schedule of `job`."""
    return dg.ScheduleDefinition(
        name=AUDIT_SCHEDULE,
        job=job,
        cron_schedule="15 3 * * *",
        execution_timezone="UTC",
        description=(
            "Every day at 03:15 UTC: the gallery audit of the whole catalog as it is then (no partitions)."
        ),
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
