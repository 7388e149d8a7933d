"""Scheduled partition runs: catch-up of batches whose newest run did not succeed, and the daily audit."""

from collections import defaultdict

import dagster as dg

from nacento_pipeline.core.catchup import FAILED, PartitionRuns, plan_catchup
from nacento_pipeline.core.retry import run_failure_is_permanent
from nacento_pipeline.defs.constants import (
    AUDIT_SCHEDULE,
    BATCH_JOB,
    CATCHUP_SCHEDULE,
    PARTITIONS_NAME,
    TAG_SOURCE,
)
from nacento_pipeline.resources.dagster_internals import UnresolvedAssetJobDefinition


def step_errors(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The errors (with their causes, as text) of the run's failed steps."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=100).records
    errors = []
    for record in records:
        event = record.event_log_entry.dagster_event
        error = event.step_failure_data.error if event is not None and event.step_failure_data else None
        if error is not None:
            errors.append(error.to_string())
    return errors


def catchup_run_requests(instance: dg.DagsterInstance, *, max_attempts: int = 3, limit: int = 20):
    """Run requests for registered batches whose newest run did not succeed (plus what was left alone)."""
    registered = list(instance.get_dynamic_partitions(PARTITIONS_NAME))
    statuses: dict[str, list[str]] = defaultdict(list)
    newest: dict[str, str] = {}
    for run in instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB), limit=10000):  # newest first
        key = run.tags.get("dagster/partition")
        if key:
            statuses[key].append(run.status.value)
            newest.setdefault(key, run.run_id)
    runs = {
        key: PartitionRuns(tuple(found), found[0] in FAILED and run_failure_is_permanent(step_errors(instance, newest[key])))
        for key, found in statuses.items()
    }
    plan = plan_catchup(registered, runs, max_attempts=max_attempts, limit=limit)
    requests = [
        dg.RunRequest(
            partition_key=key,
            # one key per attempt: the number of runs so far (of any status) never repeats
            run_key=f"catchup:{key}:{len(statuses.get(key, []))}",
            tags={TAG_SOURCE: "catchup"},
        )
        for key in plan.to_run
    ]
    return requests, plan


def build_catchup_schedule(every_minutes: int = 5) -> dg.ScheduleDefinition:
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
    def pim_catchup_schedule(context: dg.ScheduleEvaluationContext):
        requests, plan = catchup_run_requests(context.instance)
        if plan.given_up:
            context.log.warning(f"left for an operator after repeated failures: {', '.join(plan.given_up)}")
        if plan.permanent:
            context.log.warning(f"not re-run, failed for a permanent cause: {', '.join(plan.permanent)}")
        if not requests:
            summary = (f"nothing to catch up ({plan.done} batch(es) written, {len(plan.in_flight)} running, "
                       f"{len(plan.given_up)} given up, {len(plan.permanent)} failed for a permanent cause)")
            if plan.given_up:  # first, so the tick list shows which batches need an operator
                shown = ", ".join(plan.given_up[:10]) + (" ..." if len(plan.given_up) > 10 else "")
                summary = f"GIVEN UP on {len(plan.given_up)} batch(es), an operator must look: {shown} | {summary}"
            return dg.SkipReason(summary)
        return requests

    return pim_catchup_schedule


def build_audit_schedule(job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=AUDIT_SCHEDULE,
        job=job,
        cron_schedule="15 3 * * *",
        execution_timezone="UTC",
        description="Every day at 03:15 UTC: the gallery audit of the whole catalog as it is then (no partitions).",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
