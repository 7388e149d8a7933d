"""`scripts/services.sh` (what `make test` runs first) and the rule that a missing service fails a test."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "services.sh"


def _fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.integration
def test_a_second_run_installs_nothing_and_prints_one_line_per_service(tmp_path):
    """The services already run (`make test` started them): the script only checks, never calls apt-get."""
    calls = tmp_path / "apt-calls"
    _fake(tmp_path, "apt-get", f'echo "$@" >> {calls}; exit 1')
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:]] == [
        "MariaDB",
        "PostgreSQL",
        "Redis",
        "Varnish",
        "Chromium",
    ]
    assert "installing" not in done.stdout and not calls.exists()


def test_without_root_it_names_the_service_and_the_command(tmp_path):
    _fake(tmp_path, "id", 'if [ "$1" = "-u" ]; then echo 1000; else /usr/bin/id "$@"; fi')
    _fake(tmp_path, "sudo", "exit 1")
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", f'SUDO=""; source "{SCRIPT}"; install_packages Varnish varnish'],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "services: Varnish is not installed and this user cannot install it (not "
        "root, no password-less sudo). Run: sudo apt-get install -y varnish"
    )


def test_a_test_whose_service_is_down_fails_naming_it_and_is_marked_integration(tmp_path):
    """No silent skip: MariaDB on a dead port fails the test; `-m 'not integration'` is how to deselect it."""
    test_id = "nacento_pipeline_tests/magento/test_schema.py::test_mariadb_types_follow_magento"
    env = {**os.environ, "NACENTO_TEST_MYSQL_URL": "mysql+pymysql://root@127.0.0.1:1"}
    env.pop("CI", None)
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", test_id]
    run = subprocess.run(base, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout
    assert ("1 failed" in run.stdout or "1 error" in run.stdout) and "skipped" not in run.stdout
    assert "MariaDB is unreachable" in run.stdout
    deselected = subprocess.run(
        [*base, "-m", "not integration"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert "1 deselected" in deselected.stdout, deselected.stdout
