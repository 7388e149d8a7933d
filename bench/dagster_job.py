"""A synthetic batch through the real Dagster job (pim_batch_job): peak RSS and what it leaves in storage.

What it leaves is that in DAGSTER_HOME/storage (issue 13, target 5).

    python bench/dagster_job.py --images 100000 [--db-url mysql+pymysql://root@127.0.0.1:3306/]
                                [--keep-frames] [--in-process] [--step-processes]

Setup (images in a local-folder bucket, products in Magento, the bunch files registered) runs in this process;
the job runs in a fresh child process, so its peak RSS is the run's own. `--keep-frames` swaps in Dagster's
plain filesystem IO manager (every frame kept), for comparison.

`--step-processes` runs it with the drop sensor's run config for a big batch (one process per step); the
peak is then the biggest step process's (the run's process joins them, so RUSAGE_CHILDREN counts them), and
each step's own peak is reported.

Measured (2-core VM shared with other jobs, local-folder bucket, 5 images per product, execute_job):
- left in DAGSTER_HOME/storage: 100,000 images 0.057 MB, 200,000 images 0.114 MB (magento_gallery's
  GalleryChanges summary, ~0.6 KB per 1,000 images; -> ~0.6 MB at 1M); with --keep-frames 91 MB per 100,000.
- peak RSS, MariaDB 10.11 (before: without the columnar ETag snapshot, the lighter local-folder listing and
  the step processes; same VM, same hour):
      images    in process before   in process after   step processes after (biggest step)   seconds in/steps
      100,000   658 MB              631 MB             502 MB (gallery_delta)                  25 / 48
      200,000   1,093 MB            980 MB             770 MB (gallery_delta)                  42 / 92
  Step processes at 100,000 / 200,000: pim_batch 338 / 384, image_etags 386 / 495, gallery_delta 502 / 770,
  magento_gallery 446 / 643, reindex_decision and storefront_cache ~245 MB (a step process starts at ~220 MB:
  Dagster, pandas, SQLAlchemy, boto3). gallery_delta grows ~270 MB per 100,000 images: ~2.6 GB at 1M by
  extrapolation, so 1,000,000 was not run; the plan (core/delta/, magento/gallery/plan.py) is what still
  grows.
  SQLite: 100,000 images in process 654 MB before (its post-write database check took 246 s there).
- final code (the plan in groups of 10,000 SKUs): 100,000 images 648 MB in process, 526 MB with step
  processes; 200,000 images 791 MB with step processes (pim_batch 395, image_etags 491, gallery_delta 791,
  magento_gallery 580 MB).
- magento_gallery on the final code: write 6.6 s, verify 0.97 s at 100,000; write 13.6 s, verify 1.7 s at
  200,000 (MariaDB).
- issue 24 part 1, third round (the write one part at a time, the plan written as planned; --step-processes,
  MariaDB, load 6-10): 100,000 / 200,000 images pim_batch 311 / 363, image_etags 391 / 493, gallery_delta
  473 / 544, magento_gallery 362 / 376 MB (main the same day: 323 / 369, 386 / 487, 433 / 548, 449 / 617).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dagster as dg

from bench.gallery_bench import bench_database
from bench.synthetic import CatalogSpec, bunch_name, bunch_ranges, csv_chunks, image_content, ok_name
from nacento_pipeline.config import Settings
from nacento_pipeline.defs.constants import BATCH_JOB, PARTITIONS_NAME
from nacento_pipeline.defs.jobs import STEP_PROCESSES_CONFIG, with_job_defaults
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
from nacento_pipeline.resources.build import object_store_resource
from nacento_pipeline.storage.drop.registration import register_drops

MB = 1024 * 1024
BATCH = "media_jobbench"


def _settings(var_dir: Path, db_url: str) -> Settings:
    return Settings(var_dir=var_dir, magento_db_url=db_url).validate()


def prepare(var_dir: Path, db_url: str, spec: CatalogSpec) -> str:
    """Images in the bucket, products in Magento, the batch dropped and registered; returns the batch key."""
    settings = _settings(var_dir, db_url)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    db = MagentoDatabase(settings.magento_db_url)
    create_demo_schema(db.engine)
    seed_demo_products(db.engine, spec.skus())
    db.dispose()
    store = object_store_resource(settings).get_store()
    for i in range(spec.products):
        for j in range(spec.images_per_product):
            key = spec.key(i, j)
            store.put(key, image_content(key, 0))
    for n, products in enumerate(
        bunch_ranges(spec.products, max(1, 100_000 // spec.images_per_product)), start=1
    ):
        store.put(settings.drop_prefix + bunch_name(BATCH, n), b"".join(csv_chunks(spec, products)))
    store.put(settings.drop_prefix + ok_name(BATCH), b"")
    done = register_drops(
        store,
        drop_prefix=settings.drop_prefix,
        archive_prefix=settings.archive_prefix,
        rejected_prefix=settings.rejected_prefix,
    )
    if not done.registered:
        raise SystemExit(
            f"the synthetic batch was not registered: {done.rejected or done.failed or done.pending}"
        )
    return done.registered[0].manifest.batch_key


def bench_job() -> dg.JobDefinition:
    """pim_batch_job as a run worker builds it.

    The child's BENCH_* environment names the bucket and database.
    """
    from nacento_pipeline.definitions import build_definitions
    from nacento_pipeline.resources import build

    if os.environ.get("BENCH_KEEP_FRAMES"):  # the old behaviour: Dagster's own pickle IO manager
        build.PathlessFilesystemIOManager = dg.FilesystemIOManager  # type: ignore[assignment,misc]
    settings = _settings(Path(os.environ["BENCH_VAR_DIR"]), os.environ["BENCH_DB_URL"])
    return build_definitions(settings).resolve_job_def(BATCH_JOB)


def run_job(home: Path, partition: str, in_process: bool, step_processes: bool) -> dict[str, object]:
    """The job for the partition in this process: success, seconds, phases of magento_gallery, peak RSS.

    Default: `execute_job`, what a run worker does (outputs pass through the IO manager only).
    `in_process`: `execute_in_process` (the local runner's way), which also keeps every step output in
    memory for the result object until the run ends. `step_processes`: the drop sensor's run config for a big
    batch (one process per step); the step processes are joined by the run's process, so RUSAGE_CHILDREN's
    ru_maxrss is the biggest of them.
    """
    config: dict[str, object] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if step_processes:
        config.update(STEP_PROCESSES_CONFIG)
    config = with_job_defaults(bench_job(), partition, config)  # the NACENTO_* policy, as the sensor's runs
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        instance.add_dynamic_partitions(PARTITIONS_NAME, [partition])
        start = time.perf_counter()
        by_step: dict[str, float] = {}
        if in_process:
            result = bench_job().execute_in_process(
                instance=instance, partition_key=partition, raise_on_error=False, run_config=config
            )
            success, events = result.success, result.get_asset_materialization_events()
        else:
            with (
                ChildPeaks() as children,
                dg.execute_job(
                    dg.reconstructable(bench_job),
                    instance,
                    run_config=config,
                    tags={"dagster/partition": partition},
                ) as job_result,
            ):
                success, events = job_result.success, job_result.get_asset_materialization_events()
                by_step = step_peaks(job_result.all_events, children.peaks)
        seconds = time.perf_counter() - start
        storage = Path(instance.storage_directory())
        written = _metadata(events, "magento_gallery")
    return {
        "success": success,
        "seconds": round(seconds, 1),
        "storage": str(storage),
        **{k.removeprefix("duration_"): v for k, v in written.items() if k.startswith("duration_")},
        **peak_rss(),
        **({"step_peak_rss_mb": by_step} if by_step else {}),
    }


def peak_rss() -> dict[str, float]:
    """Peak RSS of this process, of its biggest waited-for descendant, and the max of both.

    The descendants waited for are the step processes.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "run_process_rss_mb": round(own, 1),
        "step_processes_rss_mb": round(children, 1),
        "peak_rss_mb": round(max(own, children), 1),
    }


class ChildPeaks:
    """Samples the high-water RSS (VmHWM) of this process's children while a run goes.

    With step processes: each step's own peak (the run's STEP_WORKER_STARTED events name the step of each
    pid).
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.peaks: dict[int, float] = {}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ChildPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self._interval):
            for pid in _children(me):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peaks[pid] = max(self.peaks.get(pid, 0.0), int(line.split()[1]) / 1024)


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def step_peaks(events: Sequence[dg.DagsterEvent], peaks: dict[int, float]) -> dict[str, float]:
    """Step key -> peak RSS of the process that ran it (step processes only)."""
    return {
        e.step_key: round(peaks[e.pid], 1)
        for e in events
        if e.event_type == dg.DagsterEventType.STEP_WORKER_STARTED and e.step_key and e.pid in peaks
    }


def _metadata(events: Sequence[dg.DagsterEvent], asset: str) -> dict[str, object]:
    for event in events:
        mat = event.step_materialization_data.materialization
        if mat.asset_key == dg.AssetKey(asset):
            return {k: v.value for k, v in mat.metadata.items()}
    return {}


def storage_left(storage: Path) -> dict[str, object]:
    """Return the files and bytes left under `storage`, by top-level folder."""
    files = {str(p.relative_to(storage)): p.stat().st_size for p in storage.rglob("*") if p.is_file()}
    by_top: dict[str, int] = {}
    for name, size in files.items():
        top = name.split("/")[0] if "/" in name else name
        top = "compute logs" if len(top) == 36 and top.count("-") == 4 else top  # run-id folders
        by_top[top] = by_top.get(top, 0) + size
    return {
        "files": len(files),
        "total_mb": round(sum(files.values()) / MB, 3),
        "by_folder_kb": {k: round(v / 1024, 1) for k, v in sorted(by_top.items())},
    }


def main() -> None:
    """Set up the synthetic batch, run the job in a child process and print its figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=100_000)
    p.add_argument("--images-per-product", type=int, default=5)
    p.add_argument("--db-url", default="sqlite://", help="Magento database (default a temporary SQLite file)")
    p.add_argument("--keep-frames", action="store_true", help="Dagster's plain filesystem IO manager")
    p.add_argument("--in-process", action="store_true", help="execute_in_process (keeps outputs in memory)")
    p.add_argument(
        "--step-processes",
        action="store_true",
        help="one process per step (the drop sensor's run config for a big batch)",
    )
    p.add_argument("--child", nargs=2, metavar=("HOME", "PARTITION"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        home, partition = args.child
        print(json.dumps(run_job(Path(home), partition, args.in_process, args.step_processes)))
        return
    spec = CatalogSpec(max(1, args.images // args.images_per_product), args.images_per_product, "dense")
    with bench_database(args.db_url) as url, tempfile.TemporaryDirectory(prefix="nacento-jobbench-") as tmp:
        var_dir, home = Path(tmp) / "var", Path(tmp) / "dagster_home"
        home.mkdir()
        start = time.perf_counter()
        partition = prepare(var_dir, url, spec)
        print(f"setup: {spec.images:,} images, {time.perf_counter() - start:.0f} s", file=sys.stderr)
        cmd = (
            [sys.executable, str(Path(__file__).resolve()), "--child", str(home), partition]
            + (["--in-process"] if args.in_process else [])
            + (["--step-processes"] if args.step_processes else [])
        )
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "BENCH_VAR_DIR": str(var_dir),
            "BENCH_DB_URL": url,
            **({"BENCH_KEEP_FRAMES": "1"} if args.keep_frames else {}),
        }
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode:
            raise SystemExit(f"job child failed ({done.returncode}): {done.stderr[-3000:]}")
        out = json.loads(done.stdout.strip().splitlines()[-1])
        out.update(
            images=spec.images,
            keep_frames=args.keep_frames,
            in_process=args.in_process,
            step_processes=args.step_processes,
            db=url.split(":", 1)[0],
            left=storage_left(Path(str(out["storage"]))),
        )
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
