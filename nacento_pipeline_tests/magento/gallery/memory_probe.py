"""Run in a fresh process: peak RSS growth (MB) of planning a synthetic first sync and of writing it.

    python -m nacento_pipeline_tests.magento.gallery.memory_probe PRODUCTS [IMAGES_PER_PRODUCT]

Prints one JSON line {"plan_mb": ..., "write_mb": ...}: each the process's high-water RSS during the phase
(reset before it through /proc/self/clear_refs) over its RSS when the phase began, the phase's inputs built
before. Planning is gallery_delta's work (plan into parts, stored as the IO manager stores it), writing is
magento_gallery's (blast radius, write, per-chunk tables). Works on code without part sinks too (the plan is
then planned in memory and stored after, the write result keeps its delta), to compare.
"""

from __future__ import annotations

import gc
import inspect
import json
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

MB = 1024


def _status(name: str) -> int:
    found = re.search(rf"{name}:\s+(\d+)", Path("/proc/self/status").read_text())
    return int(found.group(1)) if found else 0


def _reset() -> int:
    """Collect garbage, reset the high-water mark; the RSS now (kB)."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def probe(products: int, images: int) -> dict[str, float]:
    from nacento_pipeline.core.blast_radius import BlastLimits
    from nacento_pipeline.magento.blast_radius import measure_plan
    from nacento_pipeline.magento.database import MagentoDatabase
    from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
    from nacento_pipeline.magento.gallery import plan as gallery_plan
    from nacento_pipeline.magento.gallery.sync import plan_gallery, write_gallery
    from nacento_pipeline.resources import plan_store
    from nacento_pipeline_tests.helpers import FakeBatch, image_frame
    from nacento_pipeline_tests.magento.gallery_helpers import etags_for

    gallery_plan.PLAN_GROUP_SKUS = 500  # groups of 5 chunks of 100 SKUs
    with tempfile.TemporaryDirectory() as tmp:
        db = MagentoDatabase(f"sqlite:///{tmp}/magento.sqlite")
        create_demo_schema(db.engine)
        db.refresh_schema()
        skus = [f"P{n:06d}" for n in range(products)]
        seed_demo_products(db.engine, skus)
        rows = [
            (sku, f"/{n % 97:02d}/{sku}-{j}.jpg", f"label {j}", j + 1, False, "image" if j == 0 else "")
            for n, sku in enumerate(skus)
            for j in range(images)
        ]
        batch = FakeBatch(image_frame(rows))
        etags = etags_for({r[1] for r in rows})
        del rows
        options = {
            "mode": "replace",
            "chunk_size": 100,
            "batch_key": "media_1",
            "batch_time": datetime.now(UTC),
        }
        start = _reset()
        if "sink" in inspect.signature(plan_gallery).parameters:
            sink = plan_store.part_sink(Path(tmp) / "planning", 100)
            plan = plan_gallery(db, batch, etags, sink=sink, **options)
        else:  # older code: planned in memory, then stored
            plan = plan_gallery(db, batch, etags, **options)
        plan = plan_store.store_plan(plan, Path(tmp) / "parts")
        plan_mb = (_status("VmHWM") - start) / MB
        del batch, etags
        start = _reset()
        measure_plan(db, plan, BlastLimits())
        if "keep_delta" in inspect.signature(write_gallery).parameters:
            from nacento_pipeline.defs.assets.write_tables import WrittenTables

            tables = WrittenTables()
            result = write_gallery(db, plan, run_id="run-1", on_written=tables.add, keep_delta=False)
        else:
            result = write_gallery(db, plan, run_id="run-1")
        assert result.counts()["inserted"] == products * images
        write_mb = (_status("VmHWM") - start) / MB
        db.dispose()
    return {"plan_mb": round(plan_mb, 1), "write_mb": round(write_mb, 1)}


if __name__ == "__main__":
    print(json.dumps(probe(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5)))
