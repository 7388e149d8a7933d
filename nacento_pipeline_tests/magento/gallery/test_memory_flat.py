"""Issue 24's scale property, small: what writing a batch holds beyond its inputs stays flat.

Each size runs in a fresh process (memory_probe: peak RSS of each phase over its start).

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


def test_writing_holds_no_more_for_a_batch_four_times_as_big():
    """The write step (blast radius, write, its tables) is flat; the plan's figures are shown, not bounded.

    Planning still takes the parsed batch and the ETag frame whole (issue 24 part 1, open): its growth here
    (old code +10 MB between the sizes) is within the allocator's noise at this size (a loaded run measured
    25.9 / 39.0 MB on the new code), so a bound on it would fail at random.
    """
    small, big = _peaks(2_000), _peaks(8_000)  # 10,000 and 40,000 images
    assert big["write_mb"] <= 1.5 * small["write_mb"] + 5, (small, big)
