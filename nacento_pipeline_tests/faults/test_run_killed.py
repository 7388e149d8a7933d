"""SIGKILL of a real run process mid-write, recovered without a hand on it.

A real `dagster-daemon` (temporary DAGSTER_HOME on SQLite, the shipped dagster.yaml with short polling
intervals) picks a drop up with the project's sensor and launches the run; once some chunks are committed the
test SIGKILLs the run worker (its pid from the run's RUN_START event). Run monitoring must mark the run
failed, free its `magento_db` pool slot, and run retries re-run it; the tables must end equal to those of
an uninterrupted run of the same batch, with no SKU half-written and no run left STARTED.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.instance.ref import InstanceRef

from nacento_pipeline.config import Settings
from nacento_pipeline.definitions import build_definitions
from nacento_pipeline.defs.constants import BATCH_JOB, PARTITIONS_NAME
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline_tests.faults.scenario import gallery_state, prepare
from nacento_pipeline_tests.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
SKUS = [f"K{i:04d}" for i in range(200)]
KEY = "media_killed"


def drop_batch(bucket: Path) -> None:
    """200 SKUs x 3 images in the local bucket and one gallery-CSV batch for them in the drop prefix."""
    lines = ["sku,file_path,label,position,disabled,roles"]
    for sku in SKUS:
        for i in range(3):
            path = bucket / "media/catalog/product/k" / sku / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\xff\xd8\xff\xe0" + f"{sku}-{i}".encode() * 8)
            lines.append(
                f"{sku},/k/{sku}/{i}.jpg,{sku} view {i},{i + 1},0,{'image|small_image' if i == 0 else ''}"
            )
    drop = bucket / "pim-drop"
    drop.mkdir(parents=True, exist_ok=True)
    (drop / f"import-{KEY}_01.csv").write_text("\n".join(lines) + "\n")
    (drop / f"import-{KEY}.ok").write_text("")


def sync_state_rows(db: MagentoDatabase) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(db.tables.sku_sync_state)).scalar()


STARTED = time.monotonic()


def wait_for(what: str, predicate, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            print(f"{time.monotonic() - STARTED:6.1f}s {what}", file=sys.stderr)  # noqa: T201
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}")


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    return records[0].event_log_entry.dagster_event.pid if records else None


def test_sigkilled_run_is_recovered_by_the_system(tmp_path, mysql_database_factory):
    url, ref_url = mysql_database_factory(), mysql_database_factory()
    var = tmp_path / "var"
    drop_batch(var / "bucket")
    db = prepare(url, SKUS)

    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    config["run_monitoring"].update(poll_interval_seconds=2, free_slots_after_run_end_seconds=1)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "NACENTO_VAR_DIR": str(var),
        "NACENTO_MAGENTO_DB_URL": url,
        "NACENTO_CHUNK_SIZE": "5",
        "NACENTO_REINDEX_TRIGGER": "dry-run",
    }
    env.pop("NACENTO_S3_BUCKET", None)
    # The instance (and its SQLite storage) is created here, before the daemon opens it: never both at once.
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    instance.get_runs(limit=1)
    instance.all_instigator_state()
    instance.get_dynamic_partitions(PARTITIONS_NAME)
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "daemon.log", "wb"),  # noqa: SIM115
    )
    try:

        def first_run():
            runs = instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB))
            return runs[-1] if runs else None

        run = wait_for("the sensor's run", first_run, 120, every=0.5)
        wait_for("some chunks committed", lambda: sync_state_rows(db) >= 10, 180, every=0.05)
        pid = wait_for("the run worker's pid", lambda: worker_pid(instance, run.run_id), 10)
        written_when_killed = sync_state_rows(db)
        os.kill(pid, signal.SIGKILL)
        assert written_when_killed < len(SKUS), "the write finished before the kill: nothing was interrupted"

        wait_for(
            "the dead run marked failed",
            lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE,
            60,
        )

        def recovered():
            runs = instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB, tags={"dagster/partition": KEY}))
            return any(r.status == dg.DagsterRunStatus.SUCCESS for r in runs) and runs

        runs = wait_for("a run of the batch to succeed", recovered, 180, every=1)
        assert not [
            r for r in runs if r.status in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING)
        ]
        # Recovered by run retries: the run that succeeded re-executes the killed one.
        assert any(r.root_run_id == run.run_id for r in runs if r.status == dg.DagsterRunStatus.SUCCESS)
        final = gallery_state(db, SKUS)
    finally:
        stop_process(daemon, group=True, timeout=30)
        instance.dispose()
        db.dispose()

    # The same batch, uninterrupted, on a fresh database (read from the archive the daemon's sensor made).
    ref = prepare(ref_url, SKUS)
    settings = Settings(
        var_dir=var, magento_db_url=ref_url, chunk_size=100, reindex_trigger="dry-run"
    ).validate()
    with dg.instance_for_test() as clean:
        clean.add_dynamic_partitions(PARTITIONS_NAME, [KEY])
        job = build_definitions(settings).resolve_job_def(BATCH_JOB)
        assert job.execute_in_process(instance=clean, partition_key=KEY).success
    expected = gallery_state(ref, SKUS)
    ref.dispose()
    assert final == expected
    assert [sku for sku in SKUS if final[sku] != expected[sku]] == []  # no SKU half-written
