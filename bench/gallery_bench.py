"""Catalog-scale benchmark of the sync engine against a naive re-implementation of the original connector.

Run `python bench/gallery_bench.py` (or `make bench`; `--smoke` for tiny sizes). Prints a table per scenario
and the targets of issue 5; see bench/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd
import sqlalchemy as sa

from bench import list_parse
from bench.ceiling import measure_ceiling
from bench.measure import CpuClock, Measurement, Phases, Probe, RowCounter, RssSampler
from bench.naive_connector import naive_sync
from bench.synthetic import (
    LAYOUTS,
    CatalogSpec,
    SyntheticImageStore,
    bunch_name,
    bunch_ranges,
    csv_chunks,
    image_content,
    is_changed,
    ok_name,
)
from nacento_pipeline.core.batch.parse import BunchSource, ParsedBatch, parse_batch
from nacento_pipeline.core.paths import MEDIA_PREFIX, object_key
from nacento_pipeline.defs.assets.media_feed import feed_metadata, feed_snapshot
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
from nacento_pipeline.magento.gallery import plan as gallery_plan
from nacento_pipeline.magento.gallery import sync as gallery_sync
from nacento_pipeline.magento.gallery.sync import plan_gallery, write_gallery
from nacento_pipeline.magento.gallery.verify_write import ChunkVerifier, verify_write
from nacento_pipeline.storage.adapters.event_queue import SqsEventQueue
from nacento_pipeline.storage.adapters.s3 import S3ObjectStore
from nacento_pipeline.storage.drop.archive import BatchManifest, bunch_sources
from nacento_pipeline.storage.drop.event_registration import register_from_events
from nacento_pipeline.storage.drop.registration import register_drops
from nacento_pipeline.storage.etag_snapshot import snapshot_etags, storage_lookup

DEFAULT_DB_URL = "mysql+pymysql://root@127.0.0.1:3306"
DROP, ARCHIVE, REJECTED = "pim-drop/", "pim-archive/", "pim-rejected/"
TICK_DROP = "pim-drop-tick/"
NAIVE_PREFIX = "nv_"  # MariaDB names FKs <table>_ibfk_N (64 chars max): keep prefixes short
MB = 2**20
SMOKE = {
    "products": 60,
    "images_per_product": 3,
    "baseline_sample": 12,
    "products_per_file": 25,
    "million_images": 3000,
    "tick_objects": 300,
    "event_objects": 300,
    "parse_pages": 1,
}


# ------------------------------------------------------------------------------------------------------
# Environment: S3 endpoint (moto in a child process unless given) and the Magento database


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoChild:
    """bench/moto_child.py: moto's server in a child process (own GIL and RSS), seeded through its backend."""

    def __init__(self) -> None:
        port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("moto_child.py")), str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if self.proc.stdout is None or self.proc.stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError("moto server did not start")
        self.endpoint = f"http://127.0.0.1:{port}"

    def command(self, **cmd: object) -> int:
        """Send one JSON command to the child; return the object count it replies."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"moto child died during {cmd['op']}")
        return int(json.loads(reply)["objects"])

    def close(self) -> None:
        """Close the child's stdin and wait for it to exit (killed after 10 s)."""
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def bench_database(url: str) -> Iterator[str]:
    """A database URL for the run.

    A named database or SQLite file is used as given; a server URL without a database gets
    `nacento_bench_<pid>`, created here and dropped at the end; `sqlite://` a temporary file.
    """
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            yield url
            return
        with tempfile.TemporaryDirectory(prefix="nacento-bench-") as tmp:
            yield f"sqlite:///{tmp}/magento.sqlite"
        return
    if sa_url.database:
        yield url
        return
    name = f"nacento_bench_{os.getpid()}"
    server = sa.create_engine(sa_url, isolation_level="AUTOCOMMIT")
    is_mysql = sa_url.get_backend_name() in ("mysql", "mariadb")
    with server.connect() as conn:
        if is_mysql:
            conn.execute(
                sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
            )
        else:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        target = sa_url.set(database=name)
        if is_mysql:
            target = target.update_query_dict({"charset": "utf8mb4"})
        yield target.render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            quoted = f"`{name}`" if is_mysql else f'"{name}"'
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}"))
        server.dispose()


def _database_version(db: MagentoDatabase) -> str:
    query = "SELECT sqlite_version()" if db.dialect == "sqlite" else "SELECT version()"
    with db.engine.connect() as conn:
        return f"{db.dialect} {conn.execute(sa.text(query)).scalar()}"


def make_store(endpoint: str, bucket: str, pool: int = 64) -> S3ObjectStore:
    """Return an S3 store on `bucket` at `endpoint` (path style, us-east-1, `pool` connections)."""
    return S3ObjectStore(
        bucket, endpoint_url=endpoint, region="us-east-1", path_style=True, max_pool_connections=pool
    )


def _parallel(work: Callable[[int], object], n: int, threads: int = 32) -> None:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(work, range(n)):
            pass


# ------------------------------------------------------------------------------------------------------
# The two engines


@dataclass
class Context:
    """What every scenario needs: the spec, arguments, stores, databases, counters and results so far."""

    spec: CatalogSpec
    args: argparse.Namespace
    setup_store: S3ObjectStore
    store: S3ObjectStore  # the pipeline's store (its counter is ours)
    naive_store: S3ObjectStore
    db: MagentoDatabase
    naive_db: MagentoDatabase
    rows: RowCounter
    rss: RssSampler
    sample: list[str]
    moto: MotoChild | None = None
    results: list[Measurement] = field(default_factory=list)
    setup_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def server_pid(self) -> int | None:
        """Return the moto child's PID, or None when the endpoint is external."""
        return self.moto.proc.pid if self.moto else None


def drop_batch(ctx: Context, batch_key: str, meta_percent: int = 0, meta_salt: int = 0) -> BatchManifest:
    """The PIM's part: bunch files + OK file in the drop prefix; then one sensor pass registers the batch."""
    names = []
    for counter, products in enumerate(bunch_ranges(ctx.spec.products, ctx.args.products_per_file), start=1):
        name = bunch_name(batch_key, counter)
        ctx.setup_store.put(DROP + name, b"".join(csv_chunks(ctx.spec, products, meta_percent, meta_salt)))
        names.append(name)
    ctx.setup_store.put(DROP + ok_name(batch_key), ("\n".join(names) + "\n").encode())
    outcome = register_drops(
        ctx.setup_store, drop_prefix=DROP, archive_prefix=ARCHIVE, rejected_prefix=REJECTED
    )
    if len(outcome.registered) != 1 or outcome.rejected:
        raise RuntimeError(f"batch {batch_key} was not registered: {outcome.rejected}")
    return outcome.registered[0].manifest


def run_pipeline(
    ctx: Context, scenario: str, manifest: BatchManifest, feed: SqsEventQueue | None = None
) -> tuple[Measurement, ParsedBatch]:
    """The real path: parse_batch -> snapshot_etags -> plan_gallery -> write_gallery.

    parse_batch reads from the archive; snapshot_etags runs with `feed`: the media change feed's snapshot, as
    image_etags takes it.
    """
    m = Measurement(scenario, "ours", ctx.spec.images)
    phase = Phases(m.phases)
    with Probe(m, [ctx.store], ctx.db, ctx.rows, ctx.rss, ctx.server_pid):
        with phase("parse"):
            parsed = parse_batch(bunch_sources(ctx.store, manifest))
        with phase("snapshot"), CpuSplit(m, "snapshot", ctx.server_pid):
            values = pd.Series(parsed.images["value"].unique(), dtype="object")
            wanted = pd.DataFrame({"value": values, "key": [object_key(v) for v in values]})
            if feed is None:
                snapshot = snapshot_etags(ctx.store, wanted, head_concurrency=ctx.args.head_concurrency)
            else:
                taken = feed_snapshot(
                    ctx.store,
                    ctx.db,
                    feed,
                    wanted,
                    media_prefix=MEDIA_PREFIX,
                    head_concurrency=ctx.args.head_concurrency,
                )
                snapshot = taken.snapshot
                figures = feed_metadata(taken)
                m.figures.update({f"feed_{k}": v for k, v in figures.items() if isinstance(v, int)})
                m.note = f"feed snapshot ran as {figures['mode']}"
        m.figures["snapshot_etags"] = len(snapshot.frame)
        m.figures["snapshot_list_ranges"] = snapshot.strategy.get("list_ranges", 0)
        with phase("plan"), counting_delta_calls() as delta_calls:
            plan = plan_gallery(
                ctx.db,
                parsed,
                snapshot,
                mode="replace",
                batch_time=manifest.batch_datetime,
                chunk_size=ctx.args.chunk_size,
                batch_key=manifest.batch_key,
            )
        m.figures["planned_skus"] = len(plan.sku_results)
        m.figures["unchanged_skus"] = len(plan.unchanged_skus)
        profiler = cProfile.Profile() if ctx.args.profile_write and scenario == "first sync" else None
        verifier = ChunkVerifier(ctx.db)  # as the asset does: each chunk checked while the next is written
        with (
            phase("write"),
            CpuSplit(m, "write", ctx.server_pid),
            counting_delta_calls() as write_delta_calls,
        ):
            if profiler:
                profiler.enable()
            result = write_gallery(ctx.db, plan, run_id=f"bench-{scenario}", on_written=verifier.submit)
            if profiler:
                profiler.disable()
        m.figures.update(delta_call_figures(result, delta_calls, write_delta_calls))
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            say(f"cProfile of the first sync's write phase (top 25 by own time):\n{out.getvalue()}")
    # What the magento_gallery asset checks after its write (written paths present, roles in the gallery):
    # timed apart, outside the scenario's wall time and request counts (comparable with earlier runs).
    # Timed: what is left of it once the write is done (the checks of the chunks still queued, the storage
    # sample).
    with phase("verify"), CpuSplit(m, "verify", ctx.server_pid), verifier:
        verify_phases: dict[str, float] = {}
        found = verify_write(
            ctx.db,
            result,
            storage_lookup(ctx.store, ctx.args.head_concurrency),
            media_prefix=MEDIA_PREFIX,
            seed=f"bench-{scenario}",
            durations=verify_phases,
            verifier=verifier,
        )
    m.figures["verify_keys"] = found.checked
    m.figures["verify_slow_chunks"] = found.slow_chunks
    m.figures.update({f"{name}_s": seconds for name, seconds in verify_phases.items()})
    m.images = len(parsed.images)
    m.counts = {k: v for k, v in result.counts().items() if v}
    if result.errors:
        m.note = f"{len(result.errors)} write error(s): {result.errors[0][:120]}"
    ctx.results.append(m)
    return m, parsed


@contextmanager
def counting_delta_calls() -> Iterator[list[int]]:
    """Counts the engine's delta computations inside the block.

    Counted: core.delta.model's, through gallery_plan.delta_for.
    """
    calls: list[int] = []
    original = gallery_plan.delta_for

    def counted(*args, **kw):  # noqa: ANN002, ANN003, ANN202 - a transparent wrapper
        calls.append(1)
        return original(*args, **kw)

    gallery_plan.delta_for = counted  # type: ignore[assignment]
    try:
        yield calls
    finally:
        gallery_plan.delta_for = original  # type: ignore[assignment]


def delta_call_figures(
    result: gallery_sync.WriteResult, plan_calls: list[int], write_calls: list[int]
) -> dict:
    """Delta computations per chunk and re-planned chunks.

    Per chunk: plan + write; 1.0 when the write re-planned nothing.
    """
    chunks = max(1, result.chunks)
    return {
        "delta_calls_per_chunk": (len(plan_calls) + len(write_calls)) / chunks,
        "write_delta_calls": len(write_calls),
        "replanned_chunks": result.replanned_chunks,
    }


def plan_reuse_table(results: Sequence[Measurement]) -> str:
    """Per scenario of ours: the delta and write figures of issue 13 (targets 2 and 4).

    Delta computations per chunk, chunks re-planned under the lock, write statements, seconds and the share
    of the first sync's time.
    """
    ours = [m for m in results if m.engine == "ours" and "delta_calls_per_chunk" in m.figures]
    first = next((m for m in ours if m.scenario == "first sync"), None)
    rows = [
        [
            m.scenario,
            f"{m.figures['delta_calls_per_chunk']:.2f}",
            _fmt_int(m.figures["replanned_chunks"]),
            _fmt_int(m.writes),
            f"{m.phases.get('plan', 0.0):.2f}",
            f"{m.phases.get('write', 0.0):.2f}",
            f"{m.seconds:.2f}",
            f"{m.seconds / first.seconds:.1%}" if first and first.seconds else "-",
        ]
        for m in ours
    ]
    return _table(
        [
            "scenario",
            "delta calls/chunk",
            "replanned chunks",
            "write stmts",
            "plan s",
            "write s",
            "seconds",
            "of first sync",
        ],
        rows,
    )


def run_ceiling(ctx: Context, url: str, first: Measurement, parsed: ParsedBatch) -> Measurement:
    """The first sync's rows again, as plain multi-row INSERTs (bench/ceiling.py): the database's ceiling."""
    ceiling = measure_ceiling(ctx.db, url, list(dict.fromkeys(parsed.images["sku"])), ctx.args.chunk_size)
    m = Measurement(
        "first sync",
        "ceiling",
        first.images,
        seconds=ceiling.seconds,
        statements=ceiling.statements,
        writes=ceiling.statements,
        rows=ceiling.rows,
        cpu_client=ceiling.cpu_client,
        note=f"plain multi-row INSERTs of the rows ours wrote, {ceiling.chunks} chunks, triggers on",
    )
    m.figures = {"write_s": ceiling.seconds}
    ctx.results.append(m)
    return m


def run_naive(ctx: Context, scenario: str, parsed: ParsedBatch) -> Measurement:
    """Run the baseline engine on the sample SKUs of `parsed`; record and return its measurement."""
    images = parsed.images[parsed.images["sku"].isin(set(ctx.sample))]
    m = Measurement(scenario, "baseline", len(images), note=f"sample of {len(ctx.sample)} SKUs")
    with Probe(m, [ctx.naive_store], ctx.naive_db, ctx.rows, ctx.rss, ctx.server_pid):
        result = naive_sync(ctx.naive_db, ctx.naive_store, images, ctx.sample)
    m.counts = {k: v for k, v in result.counts.items() if v}
    ctx.results.append(m)
    return m


def change_content(ctx: Context, percent: int, salt: int) -> int:
    """Re-upload percent% of the images with new content (same path): their ETags change."""
    if ctx.moto:
        return ctx.moto.command(
            op="seed",
            bucket=ctx.setup_store.bucket,
            products=ctx.spec.products,
            images_per_product=ctx.spec.images_per_product,
            layout=ctx.spec.layout,
            version=2,
            percent=percent,
            salt=salt,
        )
    chosen = [
        (i, j)
        for i in range(ctx.spec.products)
        for j in range(ctx.spec.images_per_product)
        if is_changed(i, j, percent, salt)
    ]

    def put(n: int) -> None:
        i, j = chosen[n]
        key = ctx.spec.key(i, j)
        ctx.setup_store.put(key, image_content(key, 2))

    _parallel(put, len(chosen))
    return len(chosen)


def upload_images(ctx: Context) -> None:
    """Put the spec's images into the setup bucket (seeded in the moto child when there is one)."""
    spec = ctx.spec
    if ctx.moto:
        ctx.moto.command(
            op="seed",
            bucket=ctx.setup_store.bucket,
            products=spec.products,
            images_per_product=spec.images_per_product,
            layout=spec.layout,
            version=1,
            percent=0,
            salt=0,
        )
        return

    def put(n: int) -> None:
        i, j = divmod(n, spec.images_per_product)
        key = spec.key(i, j)
        ctx.setup_store.put(key, image_content(key, 1))

    _parallel(put, spec.images)


def fill_tick_prefix(ctx: Context, store: S3ObjectStore, objects: int) -> None:
    """`objects` objects in the tick drop prefix: one complete batch among pending bunch files.

    The complete batch has its bunch and OK file; the pending bunch files belong to batches whose OK file has
    not arrived yet.
    """
    pending = max(0, objects - 2)
    body = "sku,file_path,label,position,disabled,roles\n"
    if ctx.moto:
        ctx.moto.command(
            op="fill",
            bucket=store.bucket,
            prefix=TICK_DROP,
            names="import-media_pending{n:06d}_01.csv",
            count=pending,
            body=body,
        )
    else:
        _parallel(
            lambda n: store.put(f"{TICK_DROP}import-media_pending{n:06d}_01.csv", body.encode()), pending
        )
    row = f"{ctx.spec.sku(0)},{ctx.spec.value(0, 0)},,1,0,\n"
    store.put(f"{TICK_DROP}import-media_tick_01.csv", (body + row).encode())
    store.put(f"{TICK_DROP}import-media_tick.ok", b"")


class CpuSplit:
    """Wall, client CPU and (moto child) server CPU of one phase, into `m.figures` as `<name>_...`."""

    def __init__(self, m: Measurement, name: str, server_pid: int | None) -> None:
        self.m, self.name = m, name
        self.server = CpuClock(server_pid) if server_pid else None

    def __enter__(self) -> None:
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        self.s0 = self.server.seconds() if self.server else 0.0

    def __exit__(self, *exc: object) -> None:
        self.m.figures[f"{self.name}_s"] = time.perf_counter() - self.t0
        self.m.figures[f"{self.name}_cpu_client_s"] = time.process_time() - self.c0
        if self.server:
            self.m.figures[f"{self.name}_cpu_server_s"] = self.server.seconds() - self.s0


def event_tick(ctx: Context, endpoint: str, bucket: str, objects: int) -> Measurement | None:
    """The drop sensor in event mode.

    `objects` objects lie in the drop prefix (no events: they were there before), then one batch (bunch + OK
    file) is dropped through the API, whose event notifications reach an SQS queue; one pass reads them and
    registers the batch; then an idle pass.
    """
    import boto3

    store = make_store(endpoint, bucket)
    store._client.create_bucket(Bucket=bucket)
    body = "sku,file_path,label,position,disabled,roles\n"
    names = "import-media_pending{n:06d}_01.csv"
    if ctx.moto:
        ctx.moto.command(
            op="fill", bucket=bucket, prefix=TICK_DROP, names=names, count=objects - 2, body=body
        )
    else:
        _parallel(lambda n: store.put(TICK_DROP + names.format(n=n), body.encode()), objects - 2)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    store._client.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": TICK_DROP}]}},
                }
            ]
        },
    )
    queue = SqsEventQueue(url, endpoint_url=endpoint, region="us-east-1")
    queue.ack([msg.receipt for msg in queue.receive()])  # the s3:TestEvent of the configuration
    row = f"{ctx.spec.sku(0)},{ctx.spec.value(0, 0)},,1,0,\n"
    store.put(f"{TICK_DROP}import-media_tick_01.csv", (body + row).encode())
    store.put(f"{TICK_DROP}import-media_tick.ok", b"")
    kwargs = {
        "drop_prefix": TICK_DROP,
        "archive_prefix": "pim-archive-tick/",
        "rejected_prefix": "pim-rejected-tick/",
    }
    m = Measurement(
        "sensor tick, event mode",
        "ours",
        0,
        note=f"{objects:,} objects in the drop prefix, 1 batch registered from 2 events",
    )
    with Probe(m, [store], None, None, ctx.rss, ctx.server_pid):
        passed = register_from_events(store, queue, **kwargs)
    m.counts = {
        "objects_listed": passed.drop.objects_listed,
        "registered": len(passed.drop.registered),
        "messages": passed.messages,
        "events": passed.events,
        "sqs_calls": sum(passed.queue_calls.values()),
    }
    ctx.results.append(m)
    idle = Measurement("sensor tick, event mode, idle", "ours", 0, note="queue empty")
    with Probe(idle, [store], None, None, ctx.rss, ctx.server_pid):
        again = register_from_events(store, queue, **kwargs)
    idle.counts = {
        "objects_listed": again.drop.objects_listed,
        "messages": again.messages,
        "sqs_calls": sum(again.queue_calls.values()),
    }
    ctx.results.append(idle)
    return m


def media_feed_resync(ctx: Context, endpoint: str, manifest: BatchManifest) -> None:
    """The no-op re-sync with the media change feed on.

    The bucket notifies an SQS queue of the media prefix's changes; a first feed snapshot (full: it fills the
    ETag memory) is timed apart as the feed's priming, then the replayed batch's snapshot reads every ETag
    from memory (no event: no LIST). The notification is removed afterwards, so the later scenarios run as
    before.
    """
    import boto3

    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"{ctx.store.bucket}-media")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client = ctx.setup_store._client
    client.put_bucket_notification_configuration(
        Bucket=ctx.store.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": MEDIA_PREFIX}]}},
                }
            ]
        },
    )
    queue = SqsEventQueue(url, endpoint_url=endpoint, region="us-east-1")
    try:
        parsed = parse_batch(bunch_sources(ctx.store, manifest))
        values = pd.Series(parsed.images["value"].unique(), dtype="object")
        wanted = pd.DataFrame({"value": values, "key": [object_key(v) for v in values]})
        t0 = time.perf_counter()
        primed = feed_snapshot(
            ctx.store,
            ctx.db,
            queue,
            wanted,
            media_prefix=MEDIA_PREFIX,
            head_concurrency=ctx.args.head_concurrency,
        )
        ctx.setup_seconds["media feed priming (full snapshot + memory)"] = time.perf_counter() - t0
        if primed.mode != "full":
            raise RuntimeError(f"the feed's first snapshot ran as {primed.mode}, expected full")
        m, _ = run_pipeline(ctx, "no-op re-sync, media feed", manifest, feed=queue)
        m.note += (
            f": {m.figures['feed_prefixes_listed']:,} prefixes listed, "
            f"{m.figures['feed_keys_from_memory']:,} "
            "keys from memory"
        )
    finally:
        client.put_bucket_notification_configuration(Bucket=ctx.store.bucket, NotificationConfiguration={})


def list_parse_comparison(ctx: Context, pages: int) -> None:
    """LIST `pages` pages of the images with botocore's parser and with ours, same endpoint.

    Measured: client CPU per 1,000 keys, server CPU separately.
    """
    from itertools import islice

    import boto3

    plain = S3ObjectStore(
        ctx.store.bucket,
        client=boto3.session.Session().client(
            "s3", endpoint_url=ctx.store.endpoint_url, region_name="us-east-1"
        ),
        fast_list=False,
    )
    for label, store in (
        ("botocore parse", plain),
        ("fast parse (ours)", make_store(ctx.store.endpoint_url, ctx.store.bucket)),
    ):
        m = Measurement(f"LIST pages, {label}", "ours", 0, note=f"{pages} pages of the image bucket")
        with Probe(m, [store], None, None, ctx.rss, ctx.server_pid):
            n = sum(1 for _ in islice(store.list("media/"), pages * 1000))
        m.counts = {"objects_listed": n}
        ctx.results.append(m)


def sensor_tick(ctx: Context, store: S3ObjectStore, objects: int, where: str) -> Measurement:
    """One pass of the drop sensor (register_drops) over the filled tick prefix, then an idle pass."""
    fill_tick_prefix(ctx, store, objects)
    name = "sensor tick" + (f" ({where})" if where else "")
    m = Measurement(name, "ours", 0, note=f"{objects:,} objects in the drop prefix, 1 batch registered")
    with Probe(m, [store], None, None, ctx.rss, ctx.server_pid):
        outcome = register_drops(
            store,
            drop_prefix=TICK_DROP,
            archive_prefix="pim-archive-tick/",
            rejected_prefix="pim-rejected-tick/",
        )
    m.counts = {
        "objects_listed": outcome.objects_listed,
        "registered": len(outcome.registered),
        "pending": len(outcome.pending),
    }
    ctx.results.append(m)
    idle = Measurement(name + ", idle", "ours", 0, note="same prefix, nothing complete")
    with Probe(idle, [store], None, None, ctx.rss, ctx.server_pid):
        again = register_drops(
            store,
            drop_prefix=TICK_DROP,
            archive_prefix="pim-archive-tick/",
            rejected_prefix="pim-rejected-tick/",
        )
    idle.counts = {"objects_listed": again.objects_listed, "registered": len(again.registered)}
    ctx.results.append(idle)
    return m


# ------------------------------------------------------------------------------------------------------
# The million-image memory scenario (a fresh child process)


def million_child(args: argparse.Namespace) -> dict[str, object]:
    """Parse, snapshot, plan and write a batch of `--million-images` images in this (fresh) process.

    Storage is the synthetic in-process store (bunch files generated while read, LIST pages computed);
    the Magento database is `--million-db-url` (default a temporary SQLite file).
    """
    ipp = args.images_per_product
    spec = CatalogSpec(max(1, args.million_images // ipp), ipp, args.layout)
    per_file = max(1, 100_000 // ipp)
    bunches = {
        f"archive/{bunch_name('media_million', n)}": (products, 0, 0)
        for n, products in enumerate(bunch_ranges(spec.products, per_file), start=1)
    }
    store = SyntheticImageStore(spec, bunches)
    with bench_database(args.million_db_url) as url:
        db = MagentoDatabase(url)
        create_demo_schema(db.engine)
        db.refresh_schema()
        seed_demo_products(db.engine, spec.skus())
        rss_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        rows = RowCounter()
        rows.attach(db.engine)
        rss = RssSampler()
        m = Measurement("1M-image batch", "ours", spec.images, note="synthetic store (see RESULTS.md)")
        phase = Phases(m.phases)
        sources = [
            BunchSource(key.rsplit("/", 1)[-1], (lambda k=key: store.open(k))) for key in sorted(bunches)
        ]
        with Probe(m, [store], db, rows, rss):
            with phase("parse"):
                parsed = parse_batch(sources)
            with phase("snapshot"):
                values = pd.Series(parsed.images["value"].unique(), dtype="object")
                wanted = pd.DataFrame({"value": values, "key": [object_key(v) for v in values]})
                del values
                snapshot = snapshot_etags(store, wanted, head_concurrency=args.head_concurrency)
                del wanted
            if args.million_mode == "write":
                with phase("write"):
                    plan = plan_gallery(
                        db,
                        parsed,
                        snapshot,
                        mode="replace",
                        chunk_size=args.chunk_size,
                        batch_key="media_million",
                    )
                    result = write_gallery(db, plan, run_id="bench-million")
                counts = result.counts()
            else:
                with phase("plan"):
                    counts = plan_gallery(
                        db, parsed, snapshot, mode="replace", chunk_size=args.chunk_size
                    ).counts()
        rss.stop()
        m.images = len(parsed.images)
        m.counts = {k: v for k, v in counts.items() if v}
        m.peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out = m.as_dict()
        out["rss_after_setup_mb"] = round(rss_setup / MB, 1)
        out["db"] = _database_version(db)
        db.dispose()
    return out


def run_million(ctx_args: argparse.Namespace) -> Measurement:
    """Run the million-image scenario in a child process of this script; return its measurement."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--million-child",
        "--million-images",
        str(ctx_args.million_images),
        "--images-per-product",
        str(ctx_args.images_per_product),
        "--layout",
        ctx_args.layout,
        "--million-db-url",
        ctx_args.million_db_url,
        "--million-mode",
        ctx_args.million_mode,
        "--chunk-size",
        str(ctx_args.chunk_size),
        "--head-concurrency",
        str(ctx_args.head_concurrency),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=ctx_args.million_timeout)
    if done.returncode != 0:
        raise RuntimeError(f"million-image child failed ({done.returncode}): {done.stderr[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    m = Measurement(
        data["scenario"],
        "ours",
        int(data["images"]),
        seconds=float(data["seconds"]),
        requests=dict(data["requests"]),
        statements=int(data["statements"]),
        writes=int(data["writes"]),
        rows=dict(data["rows"]),
        peak_rss=int(float(data["peak_rss_mb"]) * MB),
        phases=dict(data["phases"]),
        counts=dict(data["counts"]),
        note=f"fresh process, synthetic store, {data['db']}, mode {ctx_args.million_mode}; "
        f"RSS after setup {data['rss_after_setup_mb']} MB",
    )
    return m


# ------------------------------------------------------------------------------------------------------
# Report


def _fmt_int(n: float) -> str:
    return f"{int(round(n)):,}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| "
        + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        + " |"
        for r in rows
    ]
    return "\n".join([line, sep, *body])


def results_table(results: Sequence[Measurement]) -> str:
    """Return the table of every measurement's figures, one row per scenario and engine."""
    headers = [
        "scenario",
        "engine",
        "images",
        "wall s",
        "img/s",
        "LIST",
        "HEAD",
        "GET",
        "other S3",
        "SQL stmts",
        "SQL writes",
        "rows written",
        "peak RSS MB",
    ]
    rows = []
    for m in results:
        other = sum(v for k, v in m.requests.items() if k not in ("LIST", "HEAD", "GET"))
        rows.append(
            [
                m.scenario,
                m.engine,
                _fmt_int(m.images),
                f"{m.seconds:.2f}",
                _fmt_int(m.images_per_second) if m.images else "-",
                _fmt_int(m.requests.get("LIST", 0)),
                _fmt_int(m.requests.get("HEAD", 0)),
                _fmt_int(m.requests.get("GET", 0)),
                _fmt_int(other),
                _fmt_int(m.statements),
                _fmt_int(m.writes),
                f"{m.gallery_rows:,}+{m.bookkeeping_rows:,}",
                f"{m.peak_rss / MB:,.0f}",
            ]
        )
    return _table(headers, rows)


def comparison_table(results: Sequence[Measurement]) -> str:
    """Return the table comparing ours with the baseline, per scenario both ran."""
    ours = {m.scenario: m for m in results if m.engine == "ours"}
    base = {m.scenario: m for m in results if m.engine == "baseline"}
    headers = [
        "scenario",
        "ours img/s",
        "baseline img/s",
        "ratio",
        "S3 req/1k img ours",
        "baseline",
        "SQL stmts/1k img ours",
        "baseline",
    ]
    rows = []
    for name, b in base.items():
        o = ours[name]
        ratio = o.images_per_second / b.images_per_second if b.images_per_second else float("inf")

        def per_k(m: Measurement, n: int) -> str:
            return f"{1000 * n / m.images:,.1f}" if m.images else "-"

        rows.append(
            [
                name,
                _fmt_int(o.images_per_second),
                _fmt_int(b.images_per_second),
                f"{ratio:,.1f}x",
                per_k(o, o.s3_requests),
                per_k(b, b.s3_requests),
                per_k(o, o.statements),
                per_k(b, b.statements),
            ]
        )
    return _table(headers, rows)


@dataclass(frozen=True)
class Target:
    """One performance target: its goal, what was measured and whether it was met."""

    name: str
    goal: str
    measured: str
    met: bool


def evaluate_targets(results: Sequence[Measurement]) -> list[Target]:
    """Return the targets checked against the measurements that are present."""
    ours = {m.scenario: m for m in results if m.engine == "ours"}
    base = {m.scenario: m for m in results if m.engine == "baseline"}
    targets = []
    first, first_base = ours.get("first sync"), base.get("first sync")
    if first and first_base:
        ratio = (
            first.images_per_second / first_base.images_per_second if first_base.images_per_second else 0.0
        )
        targets.append(
            Target(
                "first sync throughput",
                ">= 20x baseline img/s",
                f"{ratio:,.1f}x ({first.images_per_second:,.0f} vs {first_base.images_per_second:,.0f})",
                ratio >= 20,
            )
        )
    if first and first.phases.get("verify") is not None and first.phases.get("write"):
        share = first.phases["verify"] / first.phases["write"]
        targets.append(
            Target(
                "post-write verification",
                "<= 10% of the write time",
                f"{share:.0%} ({first.phases['verify']:.1f} s for {first.figures.get('verify_keys', 0):,.0f} "
                f"written paths vs {first.phases['write']:.1f} s of write; database "
                f"{first.figures.get('verify_database_s', 0.0):.2f} s, storage sample "
                f"{first.figures.get('verify_storage_sample_s', 0.0):.2f} s, "
                f"{first.figures.get('verify_slow_chunks', 0):.0f} chunk(s) compared row by row)",
                share <= 0.10,
            )
        )
    ceiling = next((m for m in results if m.engine == "ceiling" and m.scenario == "first sync"), None)
    if first and ceiling and ceiling.seconds:
        write = first.phases.get("write", 0.0)
        non_s3 = sum(first.phases.get(k, 0.0) for k in ("parse", "plan", "write", "verify"))
        targets.append(
            Target(
                "write phase vs the ceiling",
                "<= 1.5x plain multi-row INSERT",
                f"{write / ceiling.seconds:.1f}x ({write:.1f} s vs {ceiling.seconds:.1f} s; client CPU "
                f"{first.figures.get('write_cpu_client_s', 0):.1f} s vs {ceiling.cpu_client:.1f} s)",
                write <= 1.5 * ceiling.seconds,
            )
        )
        targets.append(
            Target(
                "first sync non-S3 time vs the ceiling",
                "<= 2x (parse + plan + write + verify)",
                f"{non_s3 / ceiling.seconds:.1f}x ({non_s3:.1f} s)",
                non_s3 <= 2 * ceiling.seconds,
            )
        )
    noop = ours.get("no-op re-sync")
    if noop:
        allowed = noop.images / 500
        targets.append(
            Target(
                "no-op re-sync writes",
                "0 write statements",
                f"{noop.writes} write statements",
                noop.writes == 0,
            )
        )
        targets.append(
            Target(
                "no-op re-sync S3 requests",
                f"<= 1 per 500 images (<= {allowed:,.0f})",
                f"{noop.s3_requests} (LIST {noop.requests.get('LIST', 0)}, HEAD "
                f"{noop.requests.get('HEAD', 0)}, GET {noop.requests.get('GET', 0)}); "
                f"1 per {noop.images / max(1, noop.s3_requests):,.0f} images",
                noop.s3_requests <= allowed,
            )
        )
    if noop and first and first.seconds:
        targets.append(
            Target(
                "no-op re-sync time",
                "<= 5% of the first sync's time",
                f"{noop.seconds / first.seconds:.1%} ({noop.seconds:.2f} s vs {first.seconds:.2f} s)",
                noop.seconds <= 0.05 * first.seconds,
            )
        )
    fed = ours.get("no-op re-sync, media feed")
    if fed and first and first.seconds:
        targets.append(
            Target(
                "no-op re-sync time, media feed",
                "<= 5% of the first sync's time",
                f"{fed.seconds / first.seconds:.1%} ({fed.seconds:.2f} s vs {first.seconds:.2f} s; "
                f"LIST {fed.requests.get('LIST', 0)}, HEAD {fed.requests.get('HEAD', 0)})",
                fed.seconds <= 0.05 * first.seconds,
            )
        )

    def non_s3(m: Measurement) -> float:
        return sum(m.phases.get(k, 0.0) for k in ("parse", "plan", "write", "verify"))

    for name, share in (("no-op re-sync", 0.05), ("10% changed content", 0.15)):
        m = ours.get(name)
        if m and first and non_s3(first):
            targets.append(
                Target(
                    f"{name} non-S3 time",
                    f"<= {share:.0%} of the first sync's (parse + plan + write + verify)",
                    f"{non_s3(m) / non_s3(first):.1%} ({non_s3(m):.2f} s vs {non_s3(first):.2f} s; "
                    f"{m.figures.get('planned_skus', 0):,.0f} SKUs planned, "
                    f"{m.figures.get('unchanged_skus', 0):,.0f} "
                    "unchanged)",
                    non_s3(m) <= share * non_s3(first),
                )
            )
    planned = [m for m in ours.values() if "delta_calls_per_chunk" in m.figures]
    if planned:
        worst = max(m.figures["delta_calls_per_chunk"] for m in planned)
        targets.append(
            Target(
                "delta of a chunk computed once",
                "1 delta computation per chunk (plan to write)",
                f"at most {worst:.2f} per chunk over {len(planned)} scenarios",
                worst <= 1.0,
            )
        )
    for name, action in (("10% changed content", "updated_value"), ("10% metadata only", "updated_meta")):
        m = ours.get(name)
        if m and first:
            changed = m.counts.get(action, 0)
            limit = 3 * changed
            share = m.writes / first.writes if first.writes else 0.0
            targets.append(
                Target(
                    f"{name}: writes proportional to the change",
                    "gallery rows written <= 3 per changed image",
                    f"{changed:,} {action}; {m.gallery_rows:,} gallery rows "
                    f"({m.gallery_rows / max(1, changed):.1f}/image) "
                    f"+ {m.bookkeeping_rows:,} sync-state, digest and journal rows; {m.writes} write stmts "
                    f"({share:.0%} of first sync)",
                    changed > 0 and m.gallery_rows <= limit,
                )
            )
    million = ours.get("1M-image batch")
    if million:
        targets.append(
            Target(
                "1M-image batch memory",
                "peak RSS < 1.5 GB",
                f"{million.peak_rss / MB:,.0f} MB for {million.images:,} images",
                million.peak_rss < 1.5 * 2**30,
            )
        )
    for name in ("sensor tick", "sensor tick (drop bucket alone)"):
        tick = ours.get(name)
        if not tick:
            continue
        targets.append(
            Target(
                name,
                "< 2 s",
                f"{tick.seconds:.2f} s over {tick.counts.get('objects_listed', 0):,} "
                f"objects ({tick.requests.get('LIST', 0)} LIST pages)",
                tick.seconds < 2.0,
            )
        )
    event = ours.get("sensor tick, event mode")
    if event:
        targets.append(
            Target(
                "sensor tick, event mode",
                "< 0.5 s",
                f"{event.seconds:.2f} s with {event.note.split(' objects')[0]} objects in the prefix "
                f"({event.requests.get('LIST', 0)} LIST page, {event.counts.get('objects_listed', 0)} "
                f"objects listed, {event.counts.get('sqs_calls', 0)} SQS calls)",
                event.seconds < 0.5,
            )
        )
    return targets


def s3_cost_table(results: Sequence[Measurement]) -> str:
    """Objects (ETags) per second and client CPU per 1,000 of them, the S3 server's CPU apart."""
    headers = [
        "scenario",
        "objects",
        "wall s",
        "objects/s",
        "client CPU s",
        "client ms/1k",
        "server CPU s",
        "LIST",
    ]
    rows = []

    def row(name: str, n: float, wall: float, client: float, server: float | None, lists: int) -> list[str]:
        return [
            name,
            _fmt_int(n),
            f"{wall:.2f}",
            _fmt_int(n / wall) if wall else "-",
            f"{client:.2f}",
            f"{1e6 * client / n:.1f}" if n else "-",
            "-" if server is None else f"{server:.2f}",
            _fmt_int(lists),
        ]

    for m in results:
        if m.engine != "ours":
            continue
        if "snapshot_s" in m.figures:
            rows.append(
                row(
                    f"{m.scenario}: ETag snapshot",
                    m.figures.get("snapshot_etags", 0),
                    m.figures["snapshot_s"],
                    m.figures["snapshot_cpu_client_s"],
                    m.figures.get("snapshot_cpu_server_s"),
                    m.requests.get("LIST", 0),
                )
            )
        elif "objects_listed" in m.counts:
            rows.append(
                row(
                    m.scenario,
                    m.counts["objects_listed"],
                    m.seconds,
                    m.cpu_client,
                    m.cpu_server,
                    m.requests.get("LIST", 0),
                )
            )
    return _table(headers, rows)


def targets_table(targets: Sequence[Target]) -> str:
    """Return the table of the targets with their status (met or MISSED)."""
    return _table(
        ["target", "goal", "measured", "status"],
        [[t.name, t.goal, t.measured, "met" if t.met else "MISSED"] for t in targets],
    )


def machine() -> dict[str, str]:
    """Return the machine's description: CPU, cores, memory, Python and library versions."""
    import dagster

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
        )
        ram = f"{int(mem.split()[1]) / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        ram = "?"
    return {
        "nproc": str(os.cpu_count()),
        "ram": ram,
        "cpu": cpu or "?",
        "python": platform.python_version(),
        "dagster": dagster.__version__,
        "pandas": pd.__version__,
        "sqlalchemy": sa.__version__,
        "os": platform.platform(),
    }


# ------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Return the benchmark's command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds), for the test suite")
    p.add_argument("--products", type=int, default=20_000)
    p.add_argument("--images-per-product", type=int, default=5)
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="dense",
        help="dense: 16 dispersion folders (default); spread: all 256",
    )
    p.add_argument("--products-per-file", type=int, default=5_000, help="products per bunch file")
    p.add_argument(
        "--db-url",
        default=DEFAULT_DB_URL,
        help="SQLAlchemy URL; a server URL without database gets a temporary nacento_bench_<pid>",
    )
    p.add_argument(
        "--s3-endpoint",
        default=os.environ.get("NACENTO_BENCH_S3_ENDPOINT"),
        help="S3-compatible endpoint (default: a moto server on a free loopback port)",
    )
    p.add_argument(
        "--bucket",
        default=os.environ.get("NACENTO_BENCH_S3_BUCKET"),
        help="bucket to use (default: a new nacento-bench-<pid> bucket)",
    )
    p.add_argument("--baseline-sample", type=int, default=1_000, help="SKUs the naive baseline syncs")
    p.add_argument("--chunk-size", type=int, default=500)
    p.add_argument("--head-concurrency", type=int, default=16)
    p.add_argument("--tick-objects", type=int, default=10_000)
    p.add_argument(
        "--skip-media-feed",
        action="store_true",
        help="skip the no-op re-sync with the media change feed (S3 -> SQS notifications)",
    )
    p.add_argument(
        "--event-objects",
        type=int,
        default=100_000,
        help="objects in the drop prefix of the event-mode tick (moto only; 0 skips it)",
    )
    p.add_argument(
        "--parse-pages", type=int, default=20, help="LIST pages of the botocore/fast parse comparison"
    )
    p.add_argument("--skip-million", action="store_true")
    p.add_argument(
        "--profile-write", action="store_true", help="print a cProfile of the first sync's write phase"
    )
    p.add_argument(
        "--skip-ceiling", action="store_true", help="skip the plain-INSERT ceiling (MySQL/MariaDB only)"
    )
    p.add_argument("--million-images", type=int, default=1_000_000)
    p.add_argument(
        "--million-db-url", default="sqlite://", help="database of the 1M scenario (default temp SQLite)"
    )
    p.add_argument("--million-mode", choices=("write", "plan"), default="write")
    p.add_argument("--million-timeout", type=int, default=3600)
    p.add_argument("--million-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", dest="json_path", help="also write all figures to this JSON file")
    args = p.parse_args(argv)
    if args.smoke:
        given = {
            a.dest
            for a in p._actions
            if a.option_strings and any(o in (argv or sys.argv[1:]) for o in a.option_strings)
        }
        for name, value in SMOKE.items():
            if name not in given:
                setattr(args, name, value)
    args.baseline_sample = min(args.baseline_sample, args.products)
    return args


def say(text: str) -> None:
    """Print `text` at once (flushed, so progress shows while it runs)."""
    print(text, flush=True)


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Run every scenario; print the tables; return all figures (for the smoke test and --json)."""
    args = parse_args(argv)
    if args.million_child:
        out = million_child(args)
        print(json.dumps(out))
        return out
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if not args.s3_endpoint:  # fake credentials only for our own moto server, never for a real endpoint
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            os.environ.setdefault(name, value)
    spec = CatalogSpec(args.products, args.images_per_product, args.layout)
    started = time.perf_counter()
    with ExitStack() as stack:
        moto = None
        if not args.s3_endpoint:
            moto = MotoChild()
            stack.callback(moto.close)
        endpoint = args.s3_endpoint or moto.endpoint
        url = stack.enter_context(bench_database(args.db_url))
        bucket = args.bucket or f"nacento-bench-{os.getpid()}-{int(time.time())}"
        setup_store = make_store(endpoint, bucket)
        if not args.bucket:
            setup_store._client.create_bucket(Bucket=bucket)
        db = MagentoDatabase(url)
        naive_db = MagentoDatabase(url, prefix=NAIVE_PREFIX)
        stack.callback(db.dispose)
        stack.callback(naive_db.dispose)
        rss = RssSampler()
        stack.callback(rss.stop)
        rows = RowCounter()
        rows.attach(db.engine)
        rows.attach(naive_db.engine)
        ctx = Context(
            spec,
            args,
            setup_store,
            make_store(endpoint, bucket),
            make_store(endpoint, bucket),
            db,
            naive_db,
            rows,
            rss,
            spec.skus(range(args.baseline_sample)),
            moto,
        )
        info = machine()
        info["database"] = _database_version(db)
        info["s3"] = "moto (ThreadedMotoServer, child process)" if not args.s3_endpoint else endpoint
        say(
            f"nacento_pipeline gallery benchmark: {spec.products:,} products x {spec.images_per_product} "
            "images = "
            f"{spec.images:,} images, layout {spec.layout}, baseline sample {args.baseline_sample:,} SKUs"
        )
        say("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))

        t0 = time.perf_counter()
        for database, prefix, skus in ((db, "", spec.skus()), (naive_db, NAIVE_PREFIX, ctx.sample)):
            create_demo_schema(database.engine, prefix)
            database.refresh_schema()
            seed_demo_products(database.engine, skus, prefix)
        ctx.setup_seconds["schema+products"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        upload_images(ctx)
        ctx.setup_seconds["upload images"] = time.perf_counter() - t0
        say(f"setup: {spec.images:,} images uploaded in {ctx.setup_seconds['upload images']:.1f}s")

        first_manifest = drop_batch(ctx, "media_bench-1-first")
        first, parsed = run_pipeline(ctx, "first sync", first_manifest)
        if db.dialect in ("mysql", "mariadb") and not args.skip_ceiling:
            run_ceiling(ctx, url, first, parsed)
        run_naive(ctx, "first sync", parsed)
        say("done: first sync")

        _, parsed = run_pipeline(ctx, "no-op re-sync", first_manifest)  # the same registered batch, replayed
        run_naive(ctx, "no-op re-sync", parsed)
        say("done: no-op re-sync")
        if not args.skip_media_feed:
            media_feed_resync(ctx, endpoint, first_manifest)
            say("done: no-op re-sync, media feed")

        t0 = time.perf_counter()
        changed = change_content(ctx, 10, salt=1)
        ctx.setup_seconds["re-upload 10%"] = time.perf_counter() - t0
        _, parsed = run_pipeline(ctx, "10% changed content", drop_batch(ctx, "media_bench-2-content"))
        ctx.results[-1].note = f"{changed:,} objects re-uploaded with new content"
        run_naive(ctx, "10% changed content", parsed)
        say("done: 10% changed content")

        _, parsed = run_pipeline(ctx, "10% metadata only", drop_batch(ctx, "media_bench-3-meta", 10, 2))
        run_naive(ctx, "10% metadata only", parsed)
        say("done: 10% metadata only")

        sensor_tick(ctx, setup_store, args.tick_objects, "")
        if not args.bucket:  # moto lists a prefix in O(objects in the bucket): the same drop, bucket alone
            tick_store = make_store(endpoint, f"{bucket}-drop")
            tick_store._client.create_bucket(Bucket=tick_store.bucket)
            sensor_tick(ctx, tick_store, args.tick_objects, "drop bucket alone")
        say("done: sensor tick")
        if args.event_objects and (moto or "127.0.0.1" in endpoint or "localhost" in endpoint):
            event_tick(ctx, endpoint, f"{bucket}-events", args.event_objects)
            say("done: event-mode sensor tick")
        if args.parse_pages:
            list_parse_comparison(ctx, args.parse_pages)
            say("done: LIST parse comparison")
        results = ctx.results
    if not args.skip_million:
        say(f"running the {args.million_images:,}-image batch in a fresh process ...")
        results.append(run_million(args))

    targets = evaluate_targets(results)
    parse = list_parse.measure(3 if args.smoke else 20)
    say("")
    say(results_table(results))
    say(
        "\nrows written = rows in Magento's gallery/role tables and our ETag table + rows of our sync-state "
        "and digest "
        f"tables (as the driver reports affected rows). Baseline: first {args.baseline_sample:,} SKUs only."
    )
    say("")
    say(comparison_table(results))
    say("\nPlan reuse (each chunk's delta computed once; the write re-checks a fingerprint per chunk):")
    say(plan_reuse_table(results))
    say("\nS3 cost, client vs server (server CPU = the moto child's; '-' when the endpoint is not ours):")
    say(s3_cost_table(results))
    say(
        "LIST page parse without a server (1,000 keys, client CPU): "
        f"botocore {parse['botocore_ms_per_page']:.1f} ms, "
        f"ours {parse['ours_ms_per_page']:.1f} ms"
    )
    say("")
    say(targets_table(targets))
    say(
        f"\ntotal {time.perf_counter() - started:.0f}s; setup: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in ctx.setup_seconds.items())
    )
    out = {
        "machine": info,
        "spec": {
            "products": spec.products,
            "images_per_product": spec.images_per_product,
            "layout": spec.layout,
            "baseline_sample": args.baseline_sample,
        },
        "results": [m.as_dict() for m in results],
        "targets": [{"name": t.name, "goal": t.goal, "measured": t.measured, "met": t.met} for t in targets],
        "setup_seconds": {k: round(v, 2) for k, v in ctx.setup_seconds.items()},
        "list_parse_ms_per_page": {k: round(v, 2) for k, v in parse.items()},
    }
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
