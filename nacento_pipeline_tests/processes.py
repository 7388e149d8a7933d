"""Stopping the processes a test started, by their own PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_process(proc: subprocess.Popen, *, group: bool = False, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds. With `group` (a process started in a new session) the
    signals go to its process group, and whatever is left of the group is killed at the end."""
    kill = os.killpg if group else os.kill
    if proc.poll() is None:
        kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    if group:
        with contextlib.suppress(ProcessLookupError):  # children that share the group (run workers)
            os.killpg(proc.pid, signal.SIGKILL)
