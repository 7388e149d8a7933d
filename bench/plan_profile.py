"""Where the plan phase spends its time: `plan_gallery` at catalog scale, with a phase table per plan.

The plans are a first sync (empty galleries) and a no-op re-sync (the same batch planned again after it was
written).

Run `python bench/plan_profile.py` (20,000 SKUs x 5 images, MariaDB on 127.0.0.1:3306 in a database of its
own, dropped at the end). The batch is parsed from the synthetic catalog's bunch files and its ETag frame
built from the synthetic store (no S3). Prints figures, never asserts.

The phase table times named functions of the plan path (inclusive wall time; "SQL" is the time spent in the
driver's execute of the statements they ran, results included, "other" the rest: frame building, pandas).
Functions missing from the code under test are left out, so the script profiles older code as well.

Checking that a change keeps the plan: `--save-delta ref.pkl` with the code before the change (e.g.
`PLAN_PROFILE_CODE=/path/to/old/checkout python bench/plan_profile.py --save-delta ref.pkl`), then
`--compare-delta ref.pkl` with the new code: prints `identical: True` when every delta frame (items, roles,
sku_results, warnings, store_values) and the totals and unknown SKUs of both plans are equal.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pickle
import pstats
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The code profiled: this checkout unless PLAN_PROFILE_CODE names another (an old commit's export).
sys.path.insert(0, os.environ.get("PLAN_PROFILE_CODE") or str(Path(__file__).resolve().parent.parent))

import pandas as pd
import sqlalchemy as sa

from bench.gallery_bench import DEFAULT_DB_URL, bench_database
from bench.synthetic import CatalogSpec, SyntheticImageStore, bunch_name, bunch_ranges
from nacento_pipeline.core.batch.parse import BunchSource, ParsedBatch, parse_batch
from nacento_pipeline.core.frames import ETAG_COLUMNS
from nacento_pipeline.core.paths import object_key
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
from nacento_pipeline.magento.gallery.sync import GalleryPlan, plan_gallery, write_gallery

# (module, attribute, label) of the functions timed; a class attribute as "Class.method".
TIMED: tuple[tuple[str, str, str], ...] = (
    ("nacento_pipeline.magento.gallery.sync", "build_request", "build request"),
    ("nacento_pipeline.magento.gallery.sync", "planned_digests", "planned digests"),
    ("nacento_pipeline.magento.gallery.sync", "applied_digests", "applied digests (read)"),
    ("nacento_pipeline.core.delta.model", "DeltaRequest.for_skus", "request of the changed SKUs"),
    ("nacento_pipeline.magento.gallery.plan", "split_request", "split request"),
    ("nacento_pipeline.magento.gallery.plan", "cut_request", "cut request in groups"),
    ("nacento_pipeline.magento.gallery.plan", "read_request_state", "state read (whole request)"),
    ("nacento_pipeline.magento.gallery.plan", "read_chunk_state", "state read"),
    ("nacento_pipeline.magento.gallery.reader", "read_products", "  products"),
    ("nacento_pipeline.magento.gallery.reader", "read_gallery", "  gallery rows"),
    ("nacento_pipeline.magento.gallery.reader", "read_roles", "  roles"),
    ("nacento_pipeline.magento.gallery.reader", "read_sync_state", "  sync state"),
    ("nacento_pipeline.magento.gallery.reader", "read_store_values", "  store rows"),
    ("nacento_pipeline.magento.gallery.plan", "state_fingerprint", "fingerprint"),
    ("nacento_pipeline.magento.gallery.plan", "request_fingerprints", "fingerprints (whole request)"),
    ("nacento_pipeline.magento.gallery.plan", "delta_for", "delta rules (worker thread: overlaps)"),
    ("nacento_pipeline.core.delta.images", "batch_images", "  images (products, stale, ETags, statuses)"),
    ("nacento_pipeline.core.delta.gallery", "current_gallery", "  gallery"),
    ("nacento_pipeline.core.delta.images", "role_blocked_skus", "  blocked SKUs"),
    ("nacento_pipeline.core.delta.gallery", "matched_images", "  match existing"),
    ("nacento_pipeline.core.delta.gallery", "inherit_unset", "  inherit unset"),
    ("nacento_pipeline.core.delta.role_plan", "role_plan", "  role plan"),
    ("nacento_pipeline.core.delta.actions", "image_actions", "  actions"),
    ("nacento_pipeline.core.delta.removals", "removals", "  removals"),
    ("nacento_pipeline.core.delta.store_views", "store_rows", "  store rows"),
    ("nacento_pipeline.core.delta.labels", "label_plan", "  label plan"),
    ("nacento_pipeline.core.delta.hidden", "hidden_by_store_views", "  hidden by store views"),
    ("nacento_pipeline.core.delta.results", "delta_items", "  items"),
    ("nacento_pipeline.core.delta.results", "sku_results", "  sku results"),
    ("nacento_pipeline.magento.gallery.plan", "_planned_group", "wait for delta, cut per chunk"),
    ("nacento_pipeline.magento.gallery.plan", "split_delta", "  cut delta per chunk"),
    ("nacento_pipeline.magento.gallery.sync", "concat_deltas", "join chunk deltas"),
)
DELTA_FRAMES = ("items", "roles", "sku_results", "warnings", "store_values")


@dataclass
class PhaseClock:
    """Inclusive wall time, calls and SQL time per label, and the SQL time of the whole plan."""

    seconds: dict[str, float] = field(default_factory=dict)
    sql: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    local: threading.local = field(default_factory=threading.local)  # the labels active in each thread
    lock: threading.Lock = field(default_factory=threading.Lock)
    sql_total: float = 0.0
    statements: int = 0

    @property
    def active(self) -> list[str]:
        """The labels of the timed functions running in this thread, outermost first."""
        if not hasattr(self.local, "labels"):
            self.local.labels = []
        return self.local.labels

    def timed(self, label: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """`func` wrapped to add its wall time and calls to `label`."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.active.append(label)
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                with self.lock:
                    self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
                    self.calls[label] = self.calls.get(label, 0) + 1
                self.active.pop()

        return wrapper

    def add_sql(self, seconds: float) -> None:
        """Count one statement's time, for the total and for every label active in this thread."""
        with self.lock:
            self.sql_total += seconds
            self.statements += 1
            for label in set(self.active):
                self.sql[label] = self.sql.get(label, 0.0) + seconds


@contextmanager
def timing(engine: sa.Engine) -> Iterator[PhaseClock]:
    """The TIMED functions wrapped and the engine's statements timed while the block runs."""
    clock = PhaseClock()
    restore: list[tuple[object, str, object]] = []
    for module_name, attribute, label in TIMED:
        module = sys.modules.get(module_name) or __import__(module_name, fromlist=["_"])
        owner: object = module
        name = attribute
        if "." in attribute:
            cls, name = attribute.split(".")
            owner = getattr(module, cls, None)
        original = getattr(owner, name, None) if owner is not None else None
        if original is None:
            continue
        restore.append((owner, name, original))
        setattr(owner, name, clock.timed(label, original))
    started: dict[int, float] = {}

    def before(conn: Any, cursor: Any, *args: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, *args: Any) -> None:
        clock.add_sql(time.perf_counter() - started.pop(id(cursor), time.perf_counter()))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield clock
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
        for owner, name, original in reversed(restore):
            setattr(owner, name, original)


def _phase_table(title: str, total: float, cpu: float, clock: PhaseClock) -> str:
    """The phase table of one plan as text: calls, total, SQL and other seconds, and share per phase."""
    lines = [
        f"{title}: {total:.2f} s wall, {cpu:.2f} s CPU of this process, {clock.statements} statements, "
        f"SQL {clock.sql_total:.2f} s",
        f"  {'phase':<36} {'calls':>6} {'total s':>8} {'SQL s':>7} {'other s':>8} {'share':>6}",
    ]
    for _, _, label in TIMED:
        if label not in clock.seconds:
            continue
        seconds, sql = clock.seconds[label], clock.sql.get(label, 0.0)
        lines.append(
            f"  {label:<36} {clock.calls[label]:>6} {seconds:>8.3f} {sql:>7.3f} {seconds - sql:>8.3f} "
            f"{seconds / total:>6.0%}"
        )
    return "\n".join(lines)


def synthetic_batch(spec: CatalogSpec) -> tuple[ParsedBatch, pd.DataFrame]:
    """The batch parsed from the synthetic catalog's bunch files, and its ETag frame (every image present)."""
    per_file = max(1, 100_000 // spec.images_per_product)
    bunches = {
        f"archive/{bunch_name('media_plan', n)}": (products, 0, 0)
        for n, products in enumerate(bunch_ranges(spec.products, per_file), start=1)
    }
    store = SyntheticImageStore(spec, bunches)
    sources = [BunchSource(key.rsplit("/", 1)[-1], (lambda k=key: store.open(k))) for key in sorted(bunches)]
    parsed = parse_batch(sources)
    values = list(dict.fromkeys(parsed.images["value"].astype(str)))
    infos = [store._info(object_key(v)) for v in values]
    etags = pd.DataFrame(
        {
            "value": pd.Series(values, dtype=object),
            "key": pd.Series([i.key for i in infos], dtype=object),
            "exists": True,
            "etag": pd.Series([i.etag for i in infos], dtype=object),
            "size": pd.Series([i.size for i in infos], dtype="int64"),
            "content_type": pd.Series([i.content_type for i in infos], dtype=object),
        },
        columns=list(ETAG_COLUMNS),
    )
    return parsed, etags


def profiled_plan(
    db: MagentoDatabase,
    parsed: ParsedBatch,
    etags: pd.DataFrame,
    args: argparse.Namespace,
    title: str,
) -> tuple[GalleryPlan, float]:
    """plan_gallery under the phase clock (and cProfile with --cprofile); prints its table.

    Returns the plan with its joined delta built (timed with it) and the wall time.
    """
    profiler = cProfile.Profile() if args.cprofile else None
    # cProfile sees only the thread it runs in: with it, the delta is computed inline.
    with timing(db.engine) as clock, without_worker(profiler is not None):
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        plan = plan_gallery(
            db,
            parsed,
            etags,
            mode="replace",
            batch_time=BATCH_TIME,
            chunk_size=args.chunk_size,
            batch_key=BATCH_KEY,
        )
        plan.delta  # noqa: B018 - the chunks' deltas joined: part of what a caller of the plan pays
        if profiler:
            profiler.disable()
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(_phase_table(title, total, cpu, clock))
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.cprofile)
        print(f"cProfile of {title} (top {args.cprofile} by {args.sort}):\n{out.getvalue()}")
    return plan, total


class InlineExecutor:
    """A ThreadPoolExecutor stand-in running each job at submit (the plan without its worker thread)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, func: Callable[..., Any], *args: Any) -> Future:
        """Run `func` now, in this thread; a done future with its result or exception."""
        future: Future = Future()
        try:
            future.set_result(func(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller as a thread pool would
            future.set_exception(exc)
        return future


@contextmanager
def without_worker(active: bool) -> Iterator[None]:
    """The plan's delta computed in the calling thread (no overlap with the database) while the block runs."""
    from nacento_pipeline.magento.gallery import plan as gallery_plan

    original = getattr(gallery_plan, "ThreadPoolExecutor", None)
    if active and original is not None:
        gallery_plan.ThreadPoolExecutor = InlineExecutor  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        if active and original is not None:
            gallery_plan.ThreadPoolExecutor = original  # type: ignore[misc]


def overlap_ab(
    db: MagentoDatabase, parsed: ParsedBatch, etags: pd.DataFrame, args: argparse.Namespace, title: str
) -> None:
    """Wall and CPU time of the plan with and without its worker thread, interleaved (--ab-overlap runs)."""
    figures: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(args.ab_overlap):
        for inline in (False, True):
            with without_worker(inline):
                started, cpu = time.perf_counter(), time.process_time()
                plan_gallery(
                    db,
                    parsed,
                    etags,
                    mode="replace",
                    batch_time=BATCH_TIME,
                    chunk_size=args.chunk_size,
                    batch_key=BATCH_KEY,
                )
                figures[inline].append((time.perf_counter() - started, time.process_time() - cpu))
    for inline, runs in figures.items():
        walls = ", ".join(f"{w:.2f}" for w, _ in runs)
        cpus = ", ".join(f"{c:.2f}" for _, c in runs)
        print(f"{title}, delta {'inline' if inline else 'in worker'}: wall {walls} s; CPU {cpus} s")


def _delta_summary(plan: GalleryPlan) -> dict[str, object]:
    """The plan's delta frames, totals and unknown SKUs, for --save-delta and --compare-delta."""
    out: dict[str, object] = {name: getattr(plan.delta, name).reset_index(drop=True) for name in DELTA_FRAMES}
    out["totals"] = plan.delta.totals()
    out["unknown_skus"] = tuple(plan.delta.unknown_skus)
    return out


def differences(old: dict[str, object], new: dict[str, object]) -> list[str]:
    """What differs between two delta summaries (frames compared with their dtypes)."""
    found = []
    for name in (*DELTA_FRAMES, "totals", "unknown_skus"):
        a, b = old.get(name), new.get(name)
        if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
            try:
                pd.testing.assert_frame_equal(a, b, check_dtype=True)
            except AssertionError as exc:
                found.append(f"{name}: {str(exc).splitlines()[0:4]}")
        elif a != b:
            found.append(f"{name}: {a!r} != {b!r}")
    return found


BATCH_KEY = "media_plan-1"
BATCH_TIME = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line's options (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--images-per-product", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument(
        "--cprofile", type=int, default=0, help="print cProfile's top N (cumulative) per plan"
    )
    parser.add_argument("--sort", default="cumulative", help="cProfile's order (cumulative, tottime, ...)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="plans per scenario (the table of each printed)"
    )
    parser.add_argument(
        "--ab-overlap",
        type=int,
        default=0,
        help="N plans per scenario with and without the worker thread, interleaved",
    )
    parser.add_argument("--save-delta", help="pickle both plans' deltas here")
    parser.add_argument("--compare-delta", help="compare both plans' deltas with this pickle")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Seed a database of its own, profile the first sync and the no-op re-sync, then drop it."""
    args = _parse_args(argv)
    import nacento_pipeline

    spec = CatalogSpec(args.products, args.images_per_product)
    print(
        f"plan profile: {spec.products:,} SKUs x {spec.images_per_product} = {spec.images:,} images, chunk "
        f"{args.chunk_size}, code {Path(nacento_pipeline.__file__).parent.parent}"
    )
    started = time.perf_counter()
    parsed, etags = synthetic_batch(spec)
    print(f"batch parsed and ETag frame built in {time.perf_counter() - started:.1f} s")
    with ExitStack() as stack:
        url = stack.enter_context(bench_database(args.db_url))
        db = MagentoDatabase(url)
        stack.callback(db.dispose)
        create_demo_schema(db.engine)
        db.refresh_schema()
        seed_demo_products(db.engine, spec.skus())
        summaries = {}
        first_plans = []
        for n in range(args.repeat):
            plan, _ = profiled_plan(db, parsed, etags, args, f"first sync plan #{n + 1}")
            first_plans.append(plan)
        summaries["first"] = _delta_summary(first_plans[0])
        if args.ab_overlap:
            overlap_ab(db, parsed, etags, args, "first sync")
        started = time.perf_counter()
        result = write_gallery(db, first_plans[0], run_id="plan-profile")
        print(
            f"write: {time.perf_counter() - started:.2f} s, {result.counts()['inserted']:,} inserted, "
            f"{len(result.errors)} errors"
        )
        for n in range(args.repeat):
            plan, _ = profiled_plan(db, parsed, etags, args, f"no-op re-sync plan #{n + 1}")
        summaries["noop"] = _delta_summary(plan)
        if args.ab_overlap:
            overlap_ab(db, parsed, etags, args, "no-op re-sync")
        print(
            "counts: first "
            + str({k: v for k, v in first_plans[0].counts().items() if v})
            + ", no-op "
            + str({k: v for k, v in plan.counts().items() if v})
        )
    if args.save_delta:
        Path(args.save_delta).write_bytes(pickle.dumps(summaries))
        print(f"deltas saved to {args.save_delta}")
    if args.compare_delta:
        reference = pickle.loads(Path(args.compare_delta).read_bytes())
        found = [
            f"{scenario} {d}"
            for scenario in ("first", "noop")
            for d in differences(reference[scenario], summaries[scenario])
        ]
        print(f"identical: {not found}")
        for line in found:
            print("  " + line)


if __name__ == "__main__":
    main()
