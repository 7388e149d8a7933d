"""Loading the Definitions: a wiring mistake fails here, in one obvious place."""

import dagster as dg

from nacento_pipeline.definitions import defs
from nacento_pipeline.defs.constants import (
    BATCH_JOB,
    CATCHUP_SCHEDULE,
    DROP_SENSOR,
    PARTITIONS_NAME,
    REVERT_JOB,
    TAG_MAGENTO_DB,
)


def test_definitions_load_with_the_contract_names():
    job = defs.resolve_job_def(BATCH_JOB)
    assert job.partitions_def.name == PARTITIONS_NAME
    assert defs.resolve_sensor_def(DROP_SENSOR).job_name == BATCH_JOB
    assert defs.resolve_schedule_def(CATCHUP_SCHEDULE).job_name == BATCH_JOB
    revert = defs.resolve_job_def(REVERT_JOB)  # launched per batch partition; writes Magento like a batch run
    assert revert.partitions_def.name == PARTITIONS_NAME and TAG_MAGENTO_DB in revert.run_tags
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "pim_batch",
        "image_etags",
        "gallery_delta",
        "magento_gallery",
        "reindex_decision",
        "gallery_audit",
    } <= keys


def test_batch_assets_form_a_chain_and_the_write_uses_the_pool():
    graph = defs.resolve_asset_graph()
    parents = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
        for k in graph.get_all_asset_keys()
    }
    assert parents["image_etags"] == {"pim_batch"}
    assert parents["gallery_delta"] == {"pim_batch", "image_etags"}
    assert parents["reindex_decision"] == {"magento_gallery"}
    write = defs.resolve_assets_def("magento_gallery")
    assert write.op.pool == "magento_db"


def test_checks_are_declared():
    checks = {
        c.name
        for a in [
            defs.resolve_assets_def(n)
            for n in ("pim_batch", "gallery_delta", "magento_gallery", "gallery_audit")
        ]
        for c in a.check_specs
    }
    assert checks == {
        "no_rejected_rows",
        "all_skus_known",
        "blast_radius",
        "rows_written_match_plan",
        "written_paths_exist_in_storage",
        "roles_point_at_gallery_paths",
        "gallery_files_present",
    }


def test_database_url_from_environment_is_an_env_var_secret(monkeypatch):
    from nacento_pipeline.config import Settings
    from nacento_pipeline.resources import build_resources

    settings = Settings.from_env({"NACENTO_MAGENTO_DB_URL": "mysql+pymysql://u:secret@db/magento"})
    resource = build_resources(settings)["magento"]
    assert isinstance(resource.url, dg.EnvVar)
    assert "secret" not in repr(resource)


def test_workspace_yaml_loads_the_code_location(tmp_path):
    """What `dagster dev` does first: load workspace.yaml's code location (in a subprocess, like Dagster)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": str(dagster.parent), "DAGSTER_HOME": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful for code location nacento_pipeline" in done.stdout + done.stderr
