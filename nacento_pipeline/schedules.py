"""Scheduled partition runs: catch-up of batches that never got written, and the daily gallery audit."""


from collections import Counter

import dagster as dg

from nacento_pipeline.constants import BATCH_JOB, CATCHUP_SCHEDULE, PARTITIONS_NAME, TAG_SOURCE
from nacento_pipeline.core.catchup import plan_catchup
from nacento_pipeline.jobs import gallery_audit_job

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
WRITE_ASSET = dg.AssetKey("magento_gallery")


def catchup_run_requests(instance: dg.DagsterInstance, *, max_attempts: int = 3, limit: int = 20):
    """Run requests for registered batches without a successful gallery write (plus what was left alone)."""
    registered = list(instance.get_dynamic_partitions(PARTITIONS_NAME))
    materialized = instance.get_materialized_partitions(WRITE_ASSET)
    in_flight = {
        r.tags.get("dagster/partition")
        for r in instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB, statuses=IN_FLIGHT), limit=5000)
    }
    failed_runs = instance.get_runs(
        dg.RunsFilter(job_name=BATCH_JOB, statuses=[dg.DagsterRunStatus.FAILURE]), limit=5000
    )
    failures = Counter(r.tags.get("dagster/partition") for r in failed_runs)
    plan = plan_catchup(registered, materialized, in_flight, failures, max_attempts=max_attempts, limit=limit)
    requests = [
        dg.RunRequest(
            partition_key=key,
            run_key=f"catchup:{key}:{failures.get(key, 0)}",
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
            "Requests runs for registered batches whose gallery write never succeeded (daemon was down, a run "
            "failed on a retriable error); gives up on a batch after 3 failed runs."
        ),
    )
    def pim_catchup_schedule(context: dg.ScheduleEvaluationContext):
        requests, plan = catchup_run_requests(context.instance)
        if plan.given_up:
            context.log.warning(f"left for an operator after repeated failures: {', '.join(plan.given_up)}")
        if not requests:
            return dg.SkipReason(
                f"nothing to catch up ({plan.done} batch(es) written, {len(plan.in_flight)} running, "
                f"{len(plan.given_up)} given up)"
            )
        return requests

    return pim_catchup_schedule


gallery_audit_schedule = dg.build_schedule_from_partitioned_job(
    gallery_audit_job,
    hour_of_day=3,
    minute_of_hour=15,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
