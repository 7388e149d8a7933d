"""Issue 24's scale property, small: what planning and writing a batch hold beyond their inputs does not grow
with the batch. Each size runs in a fresh process (memory_probe: peak RSS of each phase over its start).

Measured on the code before (plan joined whole, write result concatenated, blast radius over the joined
delta): 2,000 / 8,000 products x 5 images, plan 30.2 / 40.4 MB, write 10.3 / 35.1 MB; after: plan 34.7 /
32.1 MB, write 2.4 / 0.4 MB. The bounds leave room for the allocator's noise and fail the code before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _peaks(products: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            "-m",
            "nacento_pipeline_tests.magento.gallery.memory_probe",
            str(products),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_planning_and_writing_hold_no_more_for_a_batch_four_times_as_big():
    small, big = _peaks(2_000), _peaks(8_000)  # 10,000 and 40,000 images
    assert big["write_mb"] <= 1.5 * small["write_mb"] + 5, (small, big)
    assert big["plan_mb"] <= 1.1 * small["plan_mb"] + 3, (small, big)
