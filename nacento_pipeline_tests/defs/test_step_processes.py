"""Big batches run a process per step (the drop sensor's run config), small ones in the run's process."""

import dataclasses
import os
from pathlib import Path

import dagster as dg

from nacento_pipeline.config import Settings
from nacento_pipeline.definitions import build_definitions
from nacento_pipeline.defs.constants import BATCH_JOB, PARTITIONS_NAME
from nacento_pipeline.defs.jobs import IN_PROCESS_CONFIG, STEP_PROCESSES_CONFIG
from nacento_pipeline.storage.drop.samples import drop_sample_batch


def batch_job_from_env() -> dg.JobDefinition:
    """pim_batch_job as a run worker builds it from NACENTO_* (reconstructable: step processes import it)."""
    return build_definitions(Settings.from_env()).resolve_job_def(BATCH_JOB)


def _executor(job: dg.JobDefinition, run_config: dict) -> str:
    """The mode of multi_or_in_process_executor the run config resolves to."""
    [(executor, config)] = dg.validate_run_config(job, run_config)["execution"].items()
    [mode] = config
    return f"{executor}:{mode}"


def test_the_sensor_picks_step_processes_for_a_batch_above_the_size_setting(local_pipeline, instance):
    p = local_pipeline
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [small] = p.tick(instance).run_requests  # a few KB of bunch files, under the default
    assert small.run_config["execution"] == IN_PROCESS_CONFIG["execution"]
    assert "gallery_delta" in small.run_config["ops"]  # over the job's default (the policy), not instead

    settings = p.settings.with_overrides(step_processes_above_mb=0)
    big_pipeline = dataclasses.replace(p, settings=settings, defs=build_definitions(settings))
    [big] = big_pipeline.tick(instance).run_requests  # the same batch again: its partition was never added
    assert big.partition_key == small.partition_key
    assert big.run_config["execution"] == STEP_PROCESSES_CONFIG["execution"]

    job = p.defs.resolve_job_def(BATCH_JOB)
    assert _executor(job, small.run_config) == "multi_or_in_process_executor:in_process"
    assert _executor(job, big.run_config) == "multi_or_in_process_executor:multiprocess"
    assert (
        _executor(job, {}) == "multi_or_in_process_executor:in_process"
    )  # backfills and launchpad runs: the job's default


def test_a_batch_runs_with_one_process_per_step(local_pipeline, instance, monkeypatch):
    p = local_pipeline
    monkeypatch.setenv("NACENTO_VAR_DIR", str(p.settings.var_dir))
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    [request] = p.tick(instance).run_requests  # registers (archives) the batch the run reads
    instance.add_dynamic_partitions(PARTITIONS_NAME, [request.partition_key])

    with dg.execute_job(
        dg.reconstructable(batch_job_from_env),
        instance,
        run_config=STEP_PROCESSES_CONFIG,
        tags={"dagster/partition": batch.batch_key},
    ) as result:
        assert result.success
        starts = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START]
        written = result.asset_materializations_for_node("magento_gallery")
    assert {e.step_key for e in starts} >= {"pim_batch", "image_etags", "gallery_delta", "magento_gallery"}
    pids = [e.pid for e in starts]
    assert os.getpid() not in pids and len(set(pids)) == len(pids)  # each step in a process of its own
    assert written and written[0].partition == batch.batch_key
    gallery = p.gallery()
    assert gallery["sku"].nunique() == 12 and gallery["etag"].notna().all()  # the sample batch, written
    # frames are released across the step processes: only magento_gallery's summary stays
    root = Path(instance.storage_directory())
    assert {
        a
        for a in ("pim_batch", "image_etags", "gallery_delta", "magento_gallery")
        if (root / a / batch.batch_key).exists()
    } == {"magento_gallery"}
