"""Peak memory of parse -> snapshot -> plan at two batch sizes, and what holds it.

Each size runs in a fresh process.

    .venv/bin/python bench/memory_bench.py                     # 50,000 and 200,000 images
    .venv/bin/python bench/memory_bench.py --sizes 20000 80000

Per size a child process builds the synthetic catalog (bench/synthetic.py: products x 5 images, bunch files
generated while read, LIST pages computed in process) in a temporary SQLite database, then parses, snapshots
and plans the batch (`plan_gallery`, what the gallery_delta asset does). Printed per size: the process's peak
RSS in each phase (sampled every 20 ms), the RSS after the setup, and the deep size (pandas memory_usage with
strings) of each frame the plan keeps until the write (the gallery_delta output), plus the peak while the plan
is stored as the IO manager stores it (resources.plan_store: its chunks as parts on disk, a handle pickled)
and the sizes of the handle and of the parts, then the peak while the stored plan is read back chunk by chunk
(as the write reads it) in the same process after the batch's frames were dropped. Then MB per 100k images of
each, between the two sizes: a holder whose share stays flat grows with the batch.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd
import psutil

from bench.measure import RssSampler
from bench.synthetic import CatalogSpec, SyntheticImageStore, bunch_name, bunch_ranges
from nacento_pipeline.core.batch.parse import BunchSource, parse_batch
from nacento_pipeline.core.paths import object_key
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
from nacento_pipeline.magento.gallery.sync import plan_gallery
from nacento_pipeline.resources.plan_store import store_plan
from nacento_pipeline.storage.etag_snapshot import snapshot_etags

MB = 2**20


def _deep(frame: pd.DataFrame | None) -> int:
    return 0 if frame is None else int(frame.memory_usage(deep=True, index=True).sum())


def _plan_holders(plan) -> dict[str, int]:  # noqa: ANN001 - a GalleryPlan
    """Bytes of each kind of frame the plan holds (its request's frames, its chunks' frames summed)."""
    request = plan.request
    held = {
        f"request.{name}": _deep(getattr(request, name))
        for name in ("images", "etags", "payload_values", "rejections", "store_values", "role_scope")
    }
    for name in ("items", "roles", "sku_results", "warnings", "store_values"):
        held[f"chunks.delta.{name}"] = sum(_deep(getattr(c.delta, name)) for c in plan.chunks)
    held["chunks.products"] = sum(_deep(c.products) for c in plan.chunks)
    held["chunks.sync_state"] = sum(_deep(c.sync_state) for c in plan.chunks)
    return held


def child(images: int, chunk_size: int) -> dict[str, object]:
    """Measure one size in this process (the child); return its peaks, held frame sizes and seconds."""
    spec = CatalogSpec(max(1, images // 5), 5, "dense")
    bunches = {
        f"archive/{bunch_name('media_memory', n)}": (products, 0, 0)
        for n, products in enumerate(bunch_ranges(spec.products, 20_000), start=1)
    }
    store = SyntheticImageStore(spec, bunches)
    process = psutil.Process()
    db = MagentoDatabase(f"sqlite:///{Path(sys.argv[0]).resolve().parent}/.memory-{images}.sqlite")
    try:
        create_demo_schema(db.engine)
        db.refresh_schema()
        seed_demo_products(db.engine, spec.skus())
        out: dict[str, object] = {"images": spec.images, "rss_after_setup_mb": process.memory_info().rss / MB}
        peaks: dict[str, float] = {}
        seconds: dict[str, float] = {}
        sampler = RssSampler()
        sources = [
            BunchSource(key.rsplit("/", 1)[-1], (lambda k=key: store.open(k))) for key in sorted(bunches)
        ]

        def measured(name: str, work):  # noqa: ANN001, ANN202
            sampler.reset()
            started = time.perf_counter()
            value = work()
            seconds[name] = time.perf_counter() - started
            peaks[name] = sampler.peak() / MB
            return value

        parsed = measured("parse", lambda: parse_batch(sources))

        def snapshot():  # noqa: ANN202
            values = pd.Series(parsed.images["value"].unique(), dtype="object")
            wanted = pd.DataFrame({"value": values, "key": [object_key(v) for v in values]})
            return snapshot_etags(store, wanted)

        etags = measured("snapshot", snapshot)
        plan = measured(
            "plan",
            lambda: plan_gallery(
                db, parsed, etags, mode="replace", chunk_size=chunk_size, batch_key="media_memory"
            ),
        )
        held = {
            "parsed.images": _deep(parsed.images),
            "etags.frame": _deep(etags.frame),
            **_plan_holders(plan),
        }
        stored = Path(db.engine.url.database or "").with_suffix(".plan.pickle")
        parts = stored.with_suffix(".parts")

        def stored_plan() -> int:  # as the IO manager stores gallery_delta's output: parts, then the handle
            with stored.open("wb") as file:
                pickle.dump(store_plan(plan, parts), file, protocol=pickle.HIGHEST_PROTOCOL)
            return stored.stat().st_size

        held["plan handle pickled"] = measured("store plan", stored_plan)
        held["plan parts on disk"] = sum(f.stat().st_size for f in parts.iterdir())
        parsed = etags = plan = None  # the batch's frames dropped: the write step starts from the handle
        gc.collect()
        out["rss_after_drop_mb"] = process.memory_info().rss / MB

        def read_back() -> (
            int
        ):  # the write's reading: the handle, then each chunk in turn (one part at a time)
            with stored.open("rb") as file:
                handle = pickle.load(file)
            return sum(len(chunk.delta.items) for _, chunk in handle.parts())

        out["rows_read_back"] = measured("read back", read_back)
        stored.unlink()
        shutil.rmtree(parts)
        sampler.stop()
        out.update(
            {
                "peak_rss_mb": peaks,
                "seconds": seconds,
                "held_mb": {k: v / MB for k, v in held.items()},
                "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_end_mb": process.memory_info().rss / MB,
            }
        )
        return out
    finally:
        db.dispose()
        Path(db.engine.url.database or "").unlink(missing_ok=True)


def run(sizes: Sequence[int], chunk_size: int) -> list[dict]:
    """Run each size in a child process of this script; return their figures."""
    found = []
    for images in sizes:
        done = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                str(images),
                "--chunk-size",
                str(chunk_size),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"child for {images:,} images failed: {done.stderr[-2000:]}")
        found.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return found


def report(found: list[dict]) -> str:
    """Return the report: a table of each figure per size with its MB per 100k images, then the seconds."""
    lines = []
    names = [
        "rss_after_setup_mb",
        *(f"peak {p}" for p in ("parse", "snapshot", "plan", "store plan")),
        "rss_after_drop_mb",
        "peak read back",
        "ru_maxrss_mb",
    ]
    header = (
        "| figure (MB) | "
        + " | ".join(f"{r['images']:,} images" for r in found)
        + " | MB per 100k images, each |"
    )
    lines += [header, "|" + "---|" * (len(found) + 2)]

    def row(name: str, values: list[float]) -> None:
        per = ", ".join(f"{v / (r['images'] / 100_000):.0f}" for v, r in zip(values, found, strict=True))
        lines.append(f"| {name} | " + " | ".join(f"{v:,.0f}" for v in values) + f" | {per} |")

    for name in names:
        if name.startswith("peak "):
            row(name, [r["peak_rss_mb"][name[5:]] for r in found])
        else:
            row(name, [r[name] for r in found])
    for key in found[0]["held_mb"]:
        values = [r["held_mb"][key] for r in found]
        if max(values) >= 0.5:
            row(f"held: {key}", values)
    seconds = " | ".join(", ".join(f"{k} {v:.1f}s" for k, v in r["seconds"].items()) for r in found)
    lines.append(f"\nseconds: {seconds}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments; run the child's measurement, or every size and print the report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.chunk_size)))
        return
    print(report(run(args.sizes, args.chunk_size)))


if __name__ == "__main__":
    main()
