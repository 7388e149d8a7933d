"""What the undo journal costs the write phase: `write_gallery` with and without it, side by side.

Run `python bench/journal_bench.py` (20,000 SKUs x 5 images = 100,000, MariaDB on 127.0.0.1:3306 in a database
of its own, dropped at the end). Two copies of the catalog under two table prefixes (`nj_`: journal off,
`jo_`: journal on) get the same batches: a first sync (every image inserted), then a batch where ~10% of the
images carry a new label. Each batch is planned on each copy, then the two writes are timed one after the
other (the order alternating with --repeat). The batch is parsed from the synthetic catalog's bunch files and
its ETag frame built from the synthetic store (no S3). With --breakdown, the seconds of the journal's own
statements (before-images, fingerprints, the look-up of existing entries) are printed per batch. Prints
figures, never asserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd
import sqlalchemy as sa

from bench.gallery_bench import DEFAULT_DB_URL, bench_database
from bench.plan_profile import BATCH_TIME
from bench.synthetic import CatalogSpec, SyntheticImageStore, bunch_name, bunch_ranges
from nacento_pipeline.core.batch.parse import BunchSource, ParsedBatch, parse_batch
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
from nacento_pipeline.magento.gallery.sync import plan_gallery, write_gallery
from nacento_pipeline.magento.schema import create_own_tables

PREFIXES = {False: "nj_", True: "jo_"}


class StatementClock:
    """Seconds and counts of the statements on the journal table, by what they do (engine events)."""

    KINDS = (
        ("INSERT", "before-images (INSERT ... SELECT)"),
        ("UPDATE", "fingerprints (UPDATE)"),
        ("SELECT", "existing entries (SELECT)"),
        ("DELETE", "stale entries (DELETE)"),
    )

    def __init__(self, engine: sa.Engine, table: str) -> None:
        self.table = table
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _kind(self, statement: str) -> str | None:
        if self.table not in statement:
            return None
        head = statement.lstrip()[:6].upper()
        return next((name for verb, name in self.KINDS if head == verb), "other")

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        conn.info["journal_clock"] = (time.perf_counter(), self._kind(statement))

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        started, kind = conn.info.pop("journal_clock", (0.0, None))
        if kind is not None:
            self.seconds[kind] = self.seconds.get(kind, 0.0) + time.perf_counter() - started
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def take(self) -> str:
        """The figures since the last call, as one line."""
        shown = ", ".join(
            f"{kind} {self.seconds[kind]:.2f} s / {self.counts[kind]}" for kind in sorted(self.seconds)
        )
        self.seconds, self.counts = {}, {}
        return shown or "none"


def batch(spec: CatalogSpec, meta_percent: int, salt: int) -> ParsedBatch:
    """Return the synthetic catalog's batch parsed (`meta_percent`% of images relabelled, by `salt`)."""
    per_file = max(1, 100_000 // spec.images_per_product)
    bunches = {
        f"archive/{bunch_name('media_journal', n)}": (products, meta_percent, salt)
        for n, products in enumerate(bunch_ranges(spec.products, per_file), start=1)
    }
    store = SyntheticImageStore(spec, bunches)
    return parse_batch(
        [BunchSource(key.rsplit("/", 1)[-1], (lambda k=key: store.open(k))) for key in sorted(bunches)]
    )


def _etags(spec: CatalogSpec, parsed: ParsedBatch) -> pd.DataFrame:
    from nacento_pipeline.core.frames import ETAG_COLUMNS
    from nacento_pipeline.core.paths import object_key

    store = SyntheticImageStore(spec)
    values = list(dict.fromkeys(parsed.images["value"].astype(str)))
    infos = [store._info(object_key(v)) for v in values]
    return pd.DataFrame(
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


def journal_size(db: MagentoDatabase) -> tuple[int, int]:
    """Return the journal's rows and the summed length of their before-images."""
    j = db.tables.batch_journal
    with db.engine.connect() as conn:
        rows, size = conn.execute(
            sa.select(
                sa.func.count(), sa.func.coalesce(sa.func.sum(sa.func.length(j.c.before_image)), 0)
            ).select_from(j)
        ).one()
    return int(rows), int(size)


def run_once(
    url: str,
    spec: CatalogSpec,
    scenarios: list[tuple[str, ParsedBatch]],
    etags: pd.DataFrame,
    chunk_size: int,
    rep: int,
    stack: ExitStack,
    breakdown: bool = False,
) -> list[tuple[str, float, float, int, int, int]]:
    """Both copies (prefixes of this repetition) through every scenario; the copy written first alternates."""
    dbs: dict[bool, MagentoDatabase] = {}
    for journal, prefix in PREFIXES.items():
        db = MagentoDatabase(url, prefix=f"{prefix[:-1]}{rep}_")
        stack.callback(db.dispose)
        create_demo_schema(db.engine, db.prefix)
        seed_demo_products(db.engine, spec.skus(), db.prefix)
        create_own_tables(db.engine, db.prefix)
        db.refresh_schema()
        dbs[journal] = db
    clock = StatementClock(dbs[True].engine, dbs[True].tables.batch_journal.name) if breakdown else None
    rows: list[tuple[str, float, float, int, int, int]] = []
    journaled = 0
    for number, (name, parsed) in enumerate(scenarios, start=1):
        seconds: dict[bool, float] = {}
        statements: dict[bool, int] = {}
        order = (False, True) if (number + rep) % 2 else (True, False)
        for journal in order:
            db = dbs[journal]
            plan = plan_gallery(
                db,
                parsed,
                etags,
                mode="replace",
                batch_time=BATCH_TIME,
                chunk_size=chunk_size,
                batch_key=f"media_journal-{number}",
            )
            started = time.perf_counter()
            result = write_gallery(db, plan, run_id=f"bench-{number}", journal=journal)
            seconds[journal] = time.perf_counter() - started
            statements[journal] = result.statements
        statements_shown = clock.take() if clock is not None else None
        entries, size = journal_size(dbs[True])
        rows.append(
            (
                name,
                seconds[False],
                seconds[True],
                statements[True] - statements[False],
                entries - journaled,
                size,
            )
        )
        journaled = entries
        print(
            f"  run {rep + 1}, {name}: write without journal {seconds[False]:.2f} s, "
            f"with {seconds[True]:.2f} s "
            f"({seconds[True] / seconds[False] - 1:+.0%}), load average {os.getloadavg()[0]:.1f}"
        )
        if statements_shown is not None:
            print(f"    the journal's statements: {statements_shown}")
    return rows


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run the batches on both copies and print the table of figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--images-per-product", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1, help="runs on fresh copies; the table shows medians")
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--breakdown", action="store_true", help="time the journal's statements per batch")
    args = parser.parse_args(argv)
    spec = CatalogSpec(args.products, args.images_per_product)
    print(
        f"journal bench: {spec.products:,} SKUs x {spec.images_per_product} = {spec.images:,} images, chunk "
        f"{args.chunk_size}, {args.repeat} run(s), load average {os.getloadavg()[0]:.1f}"
    )
    scenarios = [("first sync", batch(spec, 0, 0)), ("10% metadata only", batch(spec, 10, 1))]
    etags = _etags(spec, scenarios[0][1])
    runs = []
    with ExitStack() as stack:
        url = stack.enter_context(bench_database(args.db_url))
        for rep in range(args.repeat):
            runs.append(run_once(url, spec, scenarios, etags, args.chunk_size, rep, stack, args.breakdown))
    print(
        "\n| scenario | images | write s, no journal | write s, journal | overhead (of the medians) "
        "| overhead per run "
        "| extra statements | journal rows | journal MB (total) |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for i, (name, *_rest) in enumerate(runs[0]):
        off = statistics.median(r[i][1] for r in runs)
        on = statistics.median(r[i][2] for r in runs)
        each = ", ".join(f"{r[i][2] / r[i][1] - 1:+.0%}" for r in runs)
        _, _, _, extra, entries, size = runs[0][i]
        print(
            f"| {name} | {spec.images:,} | {off:.2f} | {on:.2f} | {on / off - 1:+.0%} | {each} | {extra:,} "
            f"| {entries:,} | {size / 1e6:.1f} |"
        )


if __name__ == "__main__":
    main()
