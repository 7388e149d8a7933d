"""Catch-up schedule: runs for registered batches never written, not running, not failed too often."""

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from nacento_pipeline.constants import BATCH_JOB, CATCHUP_SCHEDULE, PARTITIONS_NAME, TAG_SOURCE
from nacento_pipeline.core.catchup import PartitionRuns, plan_catchup
from nacento_pipeline.demo_data import drop_sample_batch
from nacento_pipeline.registration import register_drops


def test_plan_catchup_rules():
    runs = {
        "written": PartitionRuns(("SUCCESS", "FAILURE")),
        "failing": PartitionRuns(("FAILURE", "CANCELED", "FAILURE", "SUCCESS")),
        "once": PartitionRuns(("FAILURE",)),
        "running": PartitionRuns(("STARTED", "FAILURE")),
        "redropped": PartitionRuns(("FAILURE", "SUCCESS")),  # a newer version failed after an older success
    }
    plan = plan_catchup(["written", "failing", "once", "running", "never", "redropped"], runs, max_attempts=3)
    assert plan.to_run == ("once", "never", "redropped")
    assert plan.given_up == ("failing",)
    assert plan.in_flight == ("running",)
    assert plan.done == 1


def test_plan_catchup_limit_keeps_registration_order():
    plan = plan_catchup([f"k{i}" for i in range(30)], {}, limit=5)
    assert plan.to_run == ("k0", "k1", "k2", "k3", "k4")


def test_catchup_schedule_requests_the_right_partitions(local_pipeline, instance):
    p = local_pipeline
    done = drop_sample_batch(p.store, p.settings.drop_prefix).batch_key
    register_drops(p.store, drop_prefix=p.settings.drop_prefix, archive_prefix=p.settings.archive_prefix,
                   rejected_prefix=p.settings.rejected_prefix)
    instance.add_dynamic_partitions(PARTITIONS_NAME, [done, "media_failing", "media_missed", "media_running"])
    assert p.defs.resolve_job_def(BATCH_JOB).execute_in_process(instance=instance, partition_key=done).success
    for status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE):
        create_run_for_test(instance, job_name=BATCH_JOB, status=status, tags={"dagster/partition": "media_failing"})
    create_run_for_test(instance, job_name=BATCH_JOB, status=dg.DagsterRunStatus.FAILURE,
                        tags={"dagster/partition": "media_missed"})
    create_run_for_test(instance, job_name=BATCH_JOB, status=dg.DagsterRunStatus.STARTED,
                        tags={"dagster/partition": "media_running"})

    schedule = p.defs.resolve_schedule_def(CATCHUP_SCHEDULE)
    with dg.build_schedule_context(instance=instance) as ctx:
        requests = schedule(ctx)
    assert [r.partition_key for r in requests] == ["media_missed"]
    assert requests[0].run_key == "catchup:media_missed:1"
    assert requests[0].tags[TAG_SOURCE] == "catchup"


def test_catchup_schedule_skips_when_everything_is_written(local_pipeline, instance):
    p = local_pipeline
    key = drop_sample_batch(p.store, p.settings.drop_prefix).batch_key
    register_drops(p.store, drop_prefix=p.settings.drop_prefix, archive_prefix=p.settings.archive_prefix,
                   rejected_prefix=p.settings.rejected_prefix)
    instance.add_dynamic_partitions(PARTITIONS_NAME, [key])
    assert p.defs.resolve_job_def(BATCH_JOB).execute_in_process(instance=instance, partition_key=key).success
    schedule = p.defs.resolve_schedule_def(CATCHUP_SCHEDULE)
    with dg.build_schedule_context(instance=instance) as ctx:
        skip = schedule(ctx)
    assert isinstance(skip, dg.SkipReason)
    assert "1 batch(es) written" in skip.skip_message


def test_catchup_tick_names_the_batches_it_gave_up_on(local_pipeline, instance):
    p = local_pipeline
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["media_broken"])
    for _ in range(3):
        create_run_for_test(instance, job_name=BATCH_JOB, status=dg.DagsterRunStatus.FAILURE,
                            tags={"dagster/partition": "media_broken"})
    with dg.build_schedule_context(instance=instance) as ctx:
        skip = p.defs.resolve_schedule_def(CATCHUP_SCHEDULE)(ctx)
    assert skip.skip_message.startswith("GIVEN UP on 1 batch(es), an operator must look: media_broken |")
