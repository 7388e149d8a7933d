"""Scheduled partition runs: catch-up of batches whose newest run did not succeed, and the daily audit."""


from collections import defaultdict

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from nacento_pipeline.constants import (
    AUDIT_SCHEDULE,
    BATCH_JOB,
    CATCHUP_SCHEDULE,
    PARTITIONS_NAME,
    TAG_SOURCE,
)
from nacento_pipeline.core.catchup import PartitionRuns, plan_catchup


def catchup_run_requests(instance: dg.DagsterInstance, *, max_attempts: int = 3, limit: int = 20):
    """Run requests for registered batches whose newest run did not succeed (plus what was left alone)."""
    registered = list(instance.get_dynamic_partitions(PARTITIONS_NAME))
    statuses: dict[str, list[str]] = defaultdict(list)
    for run in instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB), limit=10000):  # newest first
        key = run.tags.get("dagster/partition")
        if key:
            statuses[key].append(run.status.value)
    runs = {key: PartitionRuns(tuple(found)) for key, found in statuses.items()}
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
            "was down, a run failed on a retriable error); gives up on a batch after 3 failed runs in a row."
        ),
    )
    def pim_catchup_schedule(context: dg.ScheduleEvaluationContext):
        requests, plan = catchup_run_requests(context.instance)
        if plan.given_up:
            context.log.warning(f"left for an operator after repeated failures: {', '.join(plan.given_up)}")
        if not requests:
            summary = (f"nothing to catch up ({plan.done} batch(es) written, {len(plan.in_flight)} running, "
                       f"{len(plan.given_up)} given up)")
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
