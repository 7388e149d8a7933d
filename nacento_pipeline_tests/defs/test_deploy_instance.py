"""deploy/: the team instance (PostgreSQL + QueuedRunCoordinator) runs a dropped batch through its daemon."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.events import DagsterEventType
from dagster._core.run_coordinator import QueuedRunCoordinator

from nacento_pipeline.cli import prepare_embedded
from nacento_pipeline.config import Settings
from nacento_pipeline.defs.constants import BATCH_JOB, TAG_MAGENTO_DB
from nacento_pipeline.resources.build import object_store_resource
from nacento_pipeline.storage.drop.samples import drop_sample_batch
from nacento_pipeline_tests.processes import stop_process

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"


def test_deploy_instance_queues_and_runs_a_batch_through_the_daemon(postgres_url, tmp_path):
    url = sa.make_url(postgres_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.postgres.yaml", home / "dagster.yaml")
    var = tmp_path / "var"
    settings = Settings.from_env({"NACENTO_VAR_DIR": str(var)})
    prepare_embedded(settings)
    batch = drop_sample_batch(object_store_resource(settings).get_store(), settings.drop_prefix)
    (tmp_path / "workspace.yaml").write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_module": {
                            "module_name": "nacento_pipeline.definitions",
                            "attribute": "defs",
                            "working_directory": str(REPO),
                            "location_name": "nacento_pipeline",
                        }
                    }
                ]
            }
        )
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "NACENTO_VAR_DIR": str(var),
        "DAGSTER_PG_HOST": url.host,
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USER": url.username,
        "DAGSTER_PG_PASSWORD": url.password or "trust",
        "DAGSTER_PG_DB": url.database,
    }
    daemon_bin = Path(sys.executable).parent / "dagster-daemon"
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen(
        [str(daemon_bin), "run", "-w", str(tmp_path / "workspace.yaml")],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        old = {k: os.environ.get(k) for k in env if k.startswith("DAGSTER_PG_") or k == "DAGSTER_HOME"}
        os.environ.update({k: env[k] for k in old})
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
                limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
                assert {
                    "key": TAG_MAGENTO_DB,
                    "value": {"applyLimitPerUniqueValue": True},
                    "limit": 1,
                } in limits
                deadline = time.monotonic() + 150
                run = None
                while time.monotonic() < deadline and proc.poll() is None:
                    runs = instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB))
                    run = runs[0] if runs else None
                    if run is not None and run.is_finished:
                        break
                    time.sleep(1)
                assert run is not None, (tmp_path / "daemon.log").read_text()[-3000:]
                assert run.status == dg.DagsterRunStatus.SUCCESS, (tmp_path / "daemon.log").read_text()[
                    -3000:
                ]
                assert run.tags["dagster/partition"] == batch.batch_key
                assert run.tags[TAG_MAGENTO_DB] == "sqlite/magento.sqlite"
                kinds = {e.dagster_event.event_type for e in instance.all_logs(run.run_id) if e.dagster_event}
                assert {
                    DagsterEventType.RUN_ENQUEUED,
                    DagsterEventType.RUN_START,
                } <= kinds  # queued, then launched
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        stop_process(proc, group=True)
        log.close()
    assert proc.returncode is not None


def test_helm_values_are_yaml_with_the_fields_we_rely_on():
    values = yaml.safe_load(HELM_VALUES.read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    queued = values["dagsterDaemon"]["runCoordinator"]
    assert queued["type"] == "QueuedRunCoordinator"
    [limit] = queued["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    assert limit == {"key": TAG_MAGENTO_DB, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    [location] = values["dagster-user-deployments"]["deployments"]
    assert location["dagsterApiGrpcArgs"] == ["--module-name", "nacento_pipeline.definitions"]
    assert values["postgresql"]["postgresqlHost"]
    # every top-level key is documented by a comment in the file
    text = HELM_VALUES.read_text().splitlines()
    for i, line in enumerate(text):
        if line and not line.startswith((" ", "#")) and line.endswith(":"):
            assert any(t.lstrip().startswith("#") for t in text[max(0, i - 3) : i + 3]), line


@pytest.mark.parametrize("name", ["Dockerfile"])
def test_dockerfile_serves_the_code_location(name):
    text = (DEPLOY / name).read_text()
    assert (
        "FROM python:3.11" in text
        and '"dagster", "api", "grpc"' in text
        and "nacento_pipeline.definitions" in text
    )
