"""Catch-up schedule: runs for registered batches never written, not running, not failed too often."""

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from nacento_pipeline.core.catchup import PartitionRuns, plan_catchup
from nacento_pipeline.defs.constants import BATCH_JOB, CATCHUP_SCHEDULE, PARTITIONS_NAME, TAG_SOURCE
from nacento_pipeline.storage.drop.registration import register_drops
from nacento_pipeline.storage.drop.samples import drop_sample_batch


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
    register_drops(
        p.store,
        drop_prefix=p.settings.drop_prefix,
        archive_prefix=p.settings.archive_prefix,
        rejected_prefix=p.settings.rejected_prefix,
    )
    instance.add_dynamic_partitions(PARTITIONS_NAME, [done, "media_failing", "media_missed", "media_running"])
    assert p.defs.resolve_job_def(BATCH_JOB).execute_in_process(instance=instance, partition_key=done).success
    for status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE):
        create_run_for_test(
            instance, job_name=BATCH_JOB, status=status, tags={"dagster/partition": "media_failing"}
        )
    create_run_for_test(
        instance,
        job_name=BATCH_JOB,
        status=dg.DagsterRunStatus.FAILURE,
        tags={"dagster/partition": "media_missed"},
    )
    create_run_for_test(
        instance,
        job_name=BATCH_JOB,
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": "media_running"},
    )

    schedule = p.defs.resolve_schedule_def(CATCHUP_SCHEDULE)
    with dg.build_schedule_context(instance=instance) as ctx:
        requests = schedule(ctx)
    assert [r.partition_key for r in requests] == ["media_missed"]
    assert requests[0].run_key == "catchup:media_missed:1"
    assert requests[0].tags[TAG_SOURCE] == "catchup"


def test_catchup_schedule_skips_when_everything_is_written(local_pipeline, instance):
    p = local_pipeline
    key = drop_sample_batch(p.store, p.settings.drop_prefix).batch_key
    register_drops(
        p.store,
        drop_prefix=p.settings.drop_prefix,
        archive_prefix=p.settings.archive_prefix,
        rejected_prefix=p.settings.rejected_prefix,
    )
    instance.add_dynamic_partitions(PARTITIONS_NAME, [key])
    assert p.defs.resolve_job_def(BATCH_JOB).execute_in_process(instance=instance, partition_key=key).success
    schedule = p.defs.resolve_schedule_def(CATCHUP_SCHEDULE)
    with dg.build_schedule_context(instance=instance) as ctx:
        skip = schedule(ctx)
    assert isinstance(skip, dg.SkipReason)
    assert "1 batch(es) written" in skip.skip_message


def test_plan_catchup_never_reruns_a_permanent_failure():
    runs = {
        "parse_error": PartitionRuns(("FAILURE",), newest_failure_permanent=True),
        "killed": PartitionRuns(("FAILURE",), newest_failure_permanent=False),
    }
    plan = plan_catchup(["parse_error", "killed"], runs)
    assert plan.to_run == ("killed",) and plan.permanent == ("parse_error",)


def test_run_failure_classification_is_core_retry():
    from nacento_pipeline.core.retry import run_failure_is_permanent

    assert run_failure_is_permanent(
        [[("BatchError", "import-media_x_01.csv line 3, field position: not a number")]]
    )
    assert not run_failure_is_permanent([[("OperationalError", "(2013, 'Lost connection to MySQL server')")]])
    assert not run_failure_is_permanent([])  # no step failed: the worker died, running again can succeed


def test_catchup_schedule_reads_the_cause_of_real_step_failures(instance):
    """Runs of the batch job whose step failed: a parse error is left alone, a lost connection re-run."""
    from nacento_pipeline.defs.schedules import catchup_run_requests

    @dg.op
    def write(context) -> None:
        if context.run.tags["dagster/partition"] == "media_parse":
            raise ValueError("import-media_parse_01.csv line 7, field sku: empty")
        raise ConnectionError("(2013, 'Lost connection to MySQL server during query')")

    @dg.job(name=BATCH_JOB)
    def fake_batch_job():
        write()

    instance.add_dynamic_partitions(PARTITIONS_NAME, ["media_parse", "media_conn"])
    for key in ("media_parse", "media_conn"):
        result = fake_batch_job.execute_in_process(
            instance=instance, tags={"dagster/partition": key}, raise_on_error=False
        )
        assert not result.success
    requests, plan = catchup_run_requests(instance)
    assert [r.partition_key for r in requests] == ["media_conn"]
    assert plan.permanent == ("media_parse",)


def test_shipped_instance_configs_monitor_and_retry_runs(tmp_path, monkeypatch):
    """Both instance configs load, with the launcher that lets run monitoring see a dead run worker."""
    import shutil
    from pathlib import Path

    import yaml

    from nacento_pipeline.defs.run_launcher import LocalRunLauncher

    root = Path(__file__).resolve().parents[2]
    for name in ("dagster.yaml", "deploy/dagster.postgres.yaml"):
        config = yaml.safe_load((root / name).read_text())
        assert config["run_monitoring"]["enabled"] is True, name
        assert config["run_launcher"]["class"] == "LocalRunLauncher", name
        assert config["run_retries"] == {
            "enabled": True,
            "max_retries": 2,
            "retry_on_asset_or_op_failure": False,
        }
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(root / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as inst:
        assert isinstance(inst.run_launcher, LocalRunLauncher)
        assert inst.run_launcher.supports_check_run_worker_health
        assert inst.run_monitoring_enabled and inst.run_retries_enabled


def test_catchup_tick_names_the_batches_it_gave_up_on(local_pipeline, instance):
    p = local_pipeline
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["media_broken"])
    for _ in range(3):
        create_run_for_test(
            instance,
            job_name=BATCH_JOB,
            status=dg.DagsterRunStatus.FAILURE,
            tags={"dagster/partition": "media_broken"},
        )
    with dg.build_schedule_context(instance=instance) as ctx:
        skip = p.defs.resolve_schedule_def(CATCHUP_SCHEDULE)(ctx)
    assert skip.skip_message.startswith("GIVEN UP on 1 batch(es), an operator must look: media_broken |")


def test_a_step_failure_says_no_sql_value_and_the_catchup_reads_its_class(instance):
    """A write step failing with a SQLAlchemy error: the recorded failure carries neither the statement nor
    the label it bound; a duplicate key whose values say "timeout" is permanent, a lock wait timeout (1205)
    is re-run, decided by the driver's code."""
    import pymysql
    import sqlalchemy as sa

    from nacento_pipeline.defs.schedules import catchup_run_requests, step_errors
    from nacento_pipeline.defs.step_failures import reported_failures

    codes = {
        "media_dup": (1062, "Duplicate entry 'timeout-1' for key 'x'"),
        "media_lock": (1205, "Lock wait"),
    }

    @dg.op
    def write(context) -> None:
        code, text = codes[context.run.tags["dagster/partition"]]
        kind = pymysql.err.IntegrityError if code == 1062 else pymysql.err.OperationalError
        with reported_failures():
            raise sa.exc.DBAPIError.instance(
                "INSERT INTO t (label) VALUES (%s)",
                ("label timeout deadlock",),
                kind(code, text),
                pymysql.err.Error,
            )

    @dg.job(name=BATCH_JOB)
    def fake_batch_job():
        write()

    instance.add_dynamic_partitions(PARTITIONS_NAME, list(codes))
    run_ids = {}
    for key in codes:
        result = fake_batch_job.execute_in_process(
            instance=instance, tags={"dagster/partition": key}, raise_on_error=False
        )
        assert not result.success
        run_ids[key] = result.run_id
    [chain] = step_errors(instance, run_ids["media_dup"])
    message = dict(chain)["StepFailed"]
    assert "1062" in message and "in write" in message
    assert all("label timeout" not in text and "INSERT INTO" not in text for _, text in chain)
    [chain] = step_errors(instance, run_ids["media_lock"])
    assert "TransientStepFailed" in dict(chain)
    requests, plan = catchup_run_requests(instance)
    assert [r.partition_key for r in requests] == ["media_lock"] and plan.permanent == ("media_dup",)


def _add_runs(instance: dg.DagsterInstance, partitions: list[str], status: dg.DagsterRunStatus) -> None:
    """Runs of the batch job, one per entry of `partitions` in order (the last the newest), written straight
    into the run storage's tables with minimal records: tens of thousands in a second or two."""
    import uuid

    from dagster._core.storage.dagster_run import DagsterRun
    from dagster._core.storage.runs.schema import RunsTable, RunTagsTable
    from dagster._serdes import serialize_value

    runs, tags = [], []
    for key in partitions:
        run = DagsterRun(
            job_name=BATCH_JOB, run_id=str(uuid.uuid4()), status=status, tags={"dagster/partition": key}
        )
        runs.append(
            {
                "run_id": run.run_id,
                "pipeline_name": BATCH_JOB,
                "status": status.value,
                "run_body": serialize_value(run),
                "partition": key,
            }
        )
        tags.append({"run_id": run.run_id, "key": "dagster/partition", "value": key})
    with instance.run_storage.connect() as conn:
        conn.execute(RunsTable.insert(), runs)
        conn.execute(RunTagsTable.insert(), tags)


def test_catchup_sees_every_partition_past_ten_thousand_runs(instance):
    """A batch written long ago, then 12,000 runs of other batches: it is still written, never replayed (an
    old batch written again would revert what the Magento admin changed since); a batch that failed before
    them all is still retried, one that failed three times still given up."""
    from nacento_pipeline.defs.schedules import catchup_run_requests

    others = [f"media_other{i:05d}" for i in range(12_000)]
    instance.add_dynamic_partitions(
        PARTITIONS_NAME, ["media_old", "media_failed", "media_thrice", *others[:50]]
    )
    _add_runs(instance, ["media_old"], dg.DagsterRunStatus.SUCCESS)
    _add_runs(instance, ["media_failed"] + ["media_thrice"] * 3, dg.DagsterRunStatus.FAILURE)
    _add_runs(instance, others, dg.DagsterRunStatus.SUCCESS)
    assert instance.get_runs_count(dg.RunsFilter(job_name=BATCH_JOB)) == 12_005
    requests, plan = catchup_run_requests(instance)
    assert [r.partition_key for r in requests] == ["media_failed"]
    assert requests[0].run_key == "catchup:media_failed:1"
    assert plan.given_up == ("media_thrice",) and plan.done == 51
