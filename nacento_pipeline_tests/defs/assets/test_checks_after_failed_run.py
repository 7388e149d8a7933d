"""The checks tab after a run that fails in pim_batch: magento_gallery's checks keep their last real verdict
for the partition instead of turning into "Execution failed" (defs/hooks.py)."""

import asyncio

import dagster as dg
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.loader import LoadingContextForTest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionResolvedStatus as Resolved

from nacento_pipeline.defs.assets import batch_assets
from nacento_pipeline.defs.constants import BATCH_JOB
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.storage.drop.samples import drop_sample_batch

GALLERY_CHECKS = ("rows_written_match_plan", "written_paths_exist_in_storage", "roles_point_at_gallery_paths")


def _resolved(instance: dg.DagsterInstance, record) -> Resolved:
    return asyncio.run(record.resolve_status(LoadingContextForTest(instance)))


def _history(instance: dg.DagsterInstance, check: str, partition: str) -> list:
    key = dg.AssetCheckKey(dg.AssetKey("magento_gallery"), check)
    return list(
        instance.event_log_storage.get_asset_check_execution_history(
            key, limit=10, partition_filter=PartitionKeyFilter(key=partition)
        )
    )


def test_a_run_failing_in_pim_batch_leaves_the_gallery_checks_on_their_last_result(
    s3_mariadb_pipeline, instance, monkeypatch
):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    [first] = tick_and_run(p.defs, instance).results
    assert first.success

    def unreadable(*args, **kwargs):
        raise OSError("archive unreachable")

    monkeypatch.setattr(batch_assets, "parse_batch", unreadable)
    failed = p.defs.resolve_job_def(BATCH_JOB).execute_in_process(
        instance=instance, partition_key=batch.batch_key, raise_on_error=False
    )
    assert not failed.success
    assert [e.step_key for e in failed.all_events if e.event_type_value == "STEP_FAILURE"] == ["pim_batch"]

    for check in GALLERY_CHECKS:
        latest, *older = _history(instance, check, batch.batch_key)
        assert _resolved(instance, latest) == Resolved.SUCCEEDED, check
        assert latest.evaluation.metadata["carried_over_from_run"].value == first.run_id
        assert latest.evaluation.metadata["not_run_in_failed_run"].value == failed.run_id
        # what Dagster recorded for the failed run itself is still there (and is what used to show)
        [planned] = [r for r in older if r.run_id == failed.run_id]
        assert _resolved(instance, planned) == Resolved.EXECUTION_FAILED
        assert any(r.run_id == first.run_id and _resolved(instance, r) == Resolved.SUCCEEDED for r in older)


def test_a_partition_never_checked_keeps_dagsters_own_status(s3_mariadb_pipeline, instance, monkeypatch):
    p = s3_mariadb_pipeline

    def unreadable(*args, **kwargs):
        raise OSError("archive unreachable")

    monkeypatch.setattr(batch_assets, "parse_batch", unreadable)
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    [failed] = tick_and_run(p.defs, instance).results
    assert not failed.success
    for check in GALLERY_CHECKS:
        [only] = _history(instance, check, batch.batch_key)
        assert only.run_id == failed.run_id and _resolved(instance, only) == Resolved.EXECUTION_FAILED
