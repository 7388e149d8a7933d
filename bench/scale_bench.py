"""Issue 24's scale goal through the real job: pim_batch_job (default IO manager, MariaDB) at two batch sizes.

Each size is a fresh `bench/dagster_job.py` run (one process per step, as the drop sensor runs a big batch);
prints each run's peak RSS over its processes, the ratio of the two peaks, what each run left in Dagster's
storage, and met/missed per goal.

    .venv/bin/python bench/scale_bench.py                        # 1,000,000 and 2,000,000 images (make bench)
    .venv/bin/python bench/scale_bench.py --sizes 100000 200000  # a quick look

Goals: the smaller size's peak < 1 GB (at 1M images), the larger's within 10% of it, < 50 MB left in Dagster's
storage per run. A size that does not finish within `--timeout` seconds is reported as not measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_DB = "mysql+pymysql://root@127.0.0.1:3306/"
GB_MB = 1024
GOAL_IMAGES = 1_000_000


def run_size(images: int, db_url: str, timeout: int, step_processes: bool) -> dict | None:
    """One dagster_job.py run (the job in a fresh child process); its JSON, or None when it timed out."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve().parent / "dagster_job.py"),
        "--images",
        str(images),
        "--db-url",
        db_url,
    ] + (["--step-processes"] if step_processes else [])
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode:
        raise RuntimeError(f"dagster_job.py --images {images} failed: {done.stderr[-2000:]}")
    text = done.stdout
    return json.loads(text[text.index("{") :])


def report(found: list[tuple[int, dict | None]]) -> str:
    """Return the table of each size's run, then each goal's figure (peak, peaks' ratio, left) and verdict."""
    lines = [
        "| images | success | seconds | peak RSS MB (all processes) | left in Dagster storage MB |",
        "|---:|---|---:|---:|---:|",
    ]
    for images, out in found:
        if out is None:
            lines.append(f"| {images:,} | not measured (timeout) | - | - | - |")
        else:
            lines.append(
                f"| {images:,} | {out['success']} | {out['seconds']} | {out['peak_rss_mb']:,.0f} | "
                f"{out['left']['total_mb']:.3f} |"
            )
    measured = [(i, o) for i, o in found if o is not None]
    if measured:
        small, out = measured[0]
        peak = out["peak_rss_mb"]
        verdict = ("met" if peak < GB_MB else "missed") if small >= GOAL_IMAGES else "not the goal's size"
        lines.append(f"\npeak at {small:,} images: {peak:,.0f} MB (goal < 1 GB at 1M: {verdict})")
    if len(measured) == 2:
        (small, a), (large, b) = measured
        ratio = b["peak_rss_mb"] / a["peak_rss_mb"]
        lines.append(
            f"peak ratio {large:,} / {small:,} images: {ratio:.2f} (goal <= 1.10: "
            f"{'met' if ratio <= 1.10 else 'missed'})"
        )
    left = max((o["left"]["total_mb"] for _, o in measured), default=None)
    if left is not None:
        lines.append(
            f"most left in Dagster storage by a run: {left:.3f} MB (goal < 50 MB: "
            f"{'met' if left < 50 else 'missed'})"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments, run both sizes and print the report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000_000, 2_000_000])
    parser.add_argument("--db-url", default=DEFAULT_DB)
    parser.add_argument("--timeout", type=int, default=4 * 3600, help="seconds per size")
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="every step in the run's process (default: one process per step, the drop sensor's "
        "run config for a big batch)",
    )
    args = parser.parse_args(argv)
    found = [
        (images, run_size(images, args.db_url, args.timeout, not args.one_process)) for images in args.sizes
    ]
    print(report(found))


if __name__ == "__main__":
    main()
