"""Dagster's default run launcher plus a run-worker health check, so run monitoring can see a dead run.

Dagster's `DefaultRunLauncher` (run workers as local processes of the code server) cannot tell whether a run
worker is alive, so with it run monitoring never marks a killed run failed: the run stays STARTED forever and
keeps its `magento_db` pool slot. `LocalRunLauncher` answers the monitoring daemon's question from the
worker's own pid (every Dagster event records the pid of the process that emitted it; the run's RUN_START
event comes from the worker): the process is gone, or is a newer process that reused the pid, means the
worker died. It assumes, like the default launcher, that the daemon runs on the host of the run workers.
"""

from __future__ import annotations

import os

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DefaultRunLauncher

from nacento_pipeline.resources.dagster_internals import CheckRunHealthResult, WorkerStatus


def _process_start_seconds(pid: int) -> float | None:
    """Wall-clock start of a Linux process (None when unknown: not Linux, or no such process)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith("btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def worker_alive(pid: int, started_at: float | None) -> bool:
    """The process exists (and, where /proc tells, started no later than the run did: not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's: cannot say more
    began = _process_start_seconds(pid)
    return not (began is not None and started_at is not None and began > started_at + 5)


class LocalRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher whose run workers run monitoring can check (`run_monitoring.enabled: true`)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        """Run monitoring may ask this launcher about a run's worker."""
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        """The run worker's status, for run monitoring."""
        instance: DagsterInstance = self._instance
        records = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.RUN_START, limit=1
        ).records
        if not records or records[0].event_log_entry.dagster_event is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "worker not started yet")
        entry = records[0].event_log_entry
        pid = entry.dagster_event.pid if entry.dagster_event is not None else None
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run start event has no pid: cannot tell")
        if worker_alive(int(pid), entry.timestamp):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker pid {pid} alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker process {pid} is gone (killed or crashed)"
        )
