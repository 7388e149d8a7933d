"""The batch assets' policy is run config: the jobs default to the NACENTO_* values, a run overrides them."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from nacento_pipeline.config import Settings
from nacento_pipeline.definitions import build_definitions
from nacento_pipeline.defs.assets.batch_assets import gallery_delta, image_etags, pim_batch
from nacento_pipeline.defs.constants import BATCH_JOB, VALIDATE_JOB
from nacento_pipeline.defs.jobs import STEP_PROCESSES_CONFIG, with_job_defaults
from nacento_pipeline.storage.drop.samples import drop_sample_batch
from nacento_pipeline_tests.defs.harness import make_pipeline, materializations


def _op_defaults(defs: dg.Definitions, job: str) -> dict:
    """Op name -> config of the job's default run config (a partitioned job's: the same for every batch)."""
    config = with_job_defaults(defs.resolve_job_def(job), "media_any", {})
    return {name: value["config"] for name, value in config["ops"].items()}


def test_the_jobs_default_config_is_the_environments_policy(tmp_path):
    settings = Settings.from_env(
        {
            "NACENTO_VAR_DIR": str(tmp_path),
            "NACENTO_SYNC_MODE": "upsert",  # an old name: the parsed value is what the config gets
            "NACENTO_UNKNOWN_SKU_SEVERITY": "ERROR",
            "NACENTO_CSV_LIST_SEPARATOR": "|",
            "NACENTO_GUARD_MAX_EMPTIED": "7",
            "NACENTO_MEDIA_FEED_FULL_HOURS": "6",
            "NACENTO_AKENEO_LOCALES": "de_DE=de|de_ch",
            "NACENTO_REMOVE_STORE_ROLE_IMAGES": "true",
        }
    )
    defs = build_definitions(settings)
    batch = _op_defaults(defs, BATCH_JOB)
    assert batch["gallery_delta"] == {
        "default_mode": "append",
        "unknown_sku_severity": "error",
        "remove_store_role_images": True,
    }
    assert batch["pim_batch"]["list_separator"] == "|"
    assert batch["pim_batch"]["akeneo"]["locales"] == {"de_DE": ["de", "de_ch"]}
    assert batch["magento_gallery"]["max_emptied"] == 7
    assert batch["image_etags"]["media_feed_full_hours"] == 6
    assert set(_op_defaults(defs, VALIDATE_JOB)) == {"pim_batch", "image_etags", "gallery_delta"}
    assert _op_defaults(defs, VALIDATE_JOB)["gallery_delta"]["default_mode"] == "append"


def test_run_config_overrides_the_sync_mode_of_the_plan(tmp_path, instance):
    p = make_pipeline(tmp_path, Settings(var_dir=tmp_path / "var", sync_mode="replace_all").validate())
    key = p.register_sample_batch(instance)
    job = p.defs.resolve_job_def(VALIDATE_JOB)

    default = job.execute_in_process(instance=instance, partition_key=key)
    assert materializations(default)["gallery_delta"]["mode"] == "replace_all (NACENTO_SYNC_MODE)"

    overridden = job.execute_in_process(
        instance=instance,
        partition_key=key,
        run_config={"ops": {"gallery_delta": {"config": {"default_mode": "append"}}}},
    )
    assert materializations(overridden)["gallery_delta"]["mode"] == "append (NACENTO_SYNC_MODE)"

    materialized = dg.materialize(
        [pim_batch, image_etags, gallery_delta],
        instance=instance,
        partition_key=key,
        resources=dict(p.defs.resources or {}),
        run_config={"ops": {"gallery_delta": {"config": {"mode": "replace_owned"}}}},
    )
    assert materializations(materialized)["gallery_delta"]["mode"] == "replace_owned (run config)"
    p.db.dispose()


def test_the_drop_sensors_runs_carry_the_policy_and_their_executor(tmp_path, instance):
    """The sensor's executor config is merged over the job's default, not given instead of it."""
    settings = Settings(var_dir=tmp_path / "var", sync_mode="append", step_processes_above_mb=0).validate()
    p = make_pipeline(tmp_path, settings)
    drop_sample_batch(p.store, p.settings.drop_prefix)
    [request] = p.tick(instance).run_requests
    assert request.run_config["ops"]["gallery_delta"]["config"]["default_mode"] == "append"
    assert request.run_config["ops"]["magento_gallery"]["config"]["max_emptied"] == 50
    assert request.run_config["execution"] == STEP_PROCESSES_CONFIG["execution"]
    p.db.dispose()


def test_the_config_classes_default_to_the_environment_a_code_location_loads_in():
    """A materialization from the asset graph runs outside the jobs: the classes default to the policy."""
    code = (
        "from nacento_pipeline.defs.assets.run_config import DeltaPlanConfig, GalleryWriteConfig\n"
        "print(DeltaPlanConfig().default_mode, DeltaPlanConfig().unknown_sku_severity, "
        "GalleryWriteConfig().max_emptied)\n"
    )
    env = {**os.environ, "NACENTO_SYNC_MODE": "append", "NACENTO_UNKNOWN_SKU_SEVERITY": "error"}
    env["NACENTO_GUARD_MAX_EMPTIED"] = "7"
    shown = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["append", "error", "7"]
    plain = {k: v for k, v in os.environ.items() if not k.startswith("NACENTO_")}
    embedded = subprocess.run(
        [sys.executable, "-c", code], env=plain, capture_output=True, text=True, check=True
    )
    assert embedded.stdout.split() == [Settings().sync_mode, Settings().unknown_sku_severity, "50"]
