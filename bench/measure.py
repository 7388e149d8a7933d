"""What the benchmark measures around a scenario: wall time, S3 requests, SQL statements, rows, peak RSS.

S3 requests are counted by kind, rows written per table; the peak RSS is sampled in a background thread.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psutil
import sqlalchemy as sa

from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.storage.adapters.base import REQUEST_KINDS, ObjectStore

_WRITE = re.compile(
    r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+[`\"]?(\w+)", re.IGNORECASE
)
BOOKKEEPING_TABLES = (
    "nacento_sku_sync_state",
    "nacento_sku_gallery_digest",
    "nacento_batch_journal",
    "nacento_media_feed_event",
    "nacento_media_etag",
    "nacento_media_feed_state",
)


class RowCounter:
    """Rows the driver reports as affected by INSERT/UPDATE/DELETE, per table.

    MySQL counts an upsert that updates as 2 and one that changes nothing as 0.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_table: Counter[str] = Counter()

    def attach(self, engine: sa.Engine) -> None:
        """Count the rows of every statement `engine` executes from now on."""
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _after(self, conn, cursor, statement: str, parameters, context, executemany: bool) -> None:
        match = _WRITE.match(statement)
        if match and cursor.rowcount and cursor.rowcount > 0:
            with self._lock:
                self.by_table[match.group(1)] += cursor.rowcount

    def snapshot(self) -> Counter[str]:
        """The rows counted so far, per table."""
        with self._lock:
            return Counter(self.by_table)


class RssSampler:
    """Peak resident set size of this process since the last reset, sampled every `interval` seconds."""

    def __init__(self, interval: float = 0.02) -> None:
        self._process = psutil.Process()
        self._interval = interval
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def reset(self) -> None:
        """Start a new peak from the current RSS."""
        self._peak = self._process.memory_info().rss

    def peak(self) -> int:
        """The peak RSS in bytes since the last reset."""
        return max(self._peak, self._process.memory_info().rss)

    def stop(self) -> None:
        """Stop the sampling thread."""
        self._stop.set()
        self._thread.join()


@dataclass
class Measurement:
    """Figures of one scenario run (one engine)."""

    scenario: str
    engine: str
    images: int
    seconds: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)
    statements: int = 0
    writes: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    peak_rss: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    note: str = ""
    cpu_client: float = 0.0  # CPU seconds of this process (user + system) during the scenario
    cpu_server: float | None = None  # CPU seconds of the S3 server's process (moto child only), else None
    figures: dict[str, float] = field(default_factory=dict)  # scenario-specific figures

    @property
    def images_per_second(self) -> float:
        """Images per wall second (0 when no time was measured)."""
        return self.images / self.seconds if self.seconds > 0 else 0.0

    @property
    def s3_requests(self) -> int:
        """The read requests (LIST, HEAD, GET) the scenario sent to S3."""
        return sum(self.requests.get(k, 0) for k in ("LIST", "HEAD", "GET"))

    @property
    def gallery_rows(self) -> int:
        """Rows written to Magento's tables (all but BOOKKEEPING_TABLES)."""
        return sum(n for table, n in self.rows.items() if not table.endswith(BOOKKEEPING_TABLES))

    @property
    def bookkeeping_rows(self) -> int:
        """Rows written to our own tables (BOOKKEEPING_TABLES)."""
        return sum(n for table, n in self.rows.items() if table.endswith(BOOKKEEPING_TABLES))

    def as_dict(self) -> dict[str, object]:
        """The measurement as a JSON-ready dict, figures rounded."""
        return {
            "scenario": self.scenario,
            "engine": self.engine,
            "images": self.images,
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 1),
            "requests": self.requests,
            "statements": self.statements,
            "writes": self.writes,
            "rows": self.rows,
            "gallery_rows": self.gallery_rows,
            "bookkeeping_rows": self.bookkeeping_rows,
            "peak_rss_mb": round(self.peak_rss / 2**20, 1),
            "phases": {k: round(v, 3) for k, v in self.phases.items()},
            "counts": self.counts,
            "note": self.note,
            "cpu_client_s": round(self.cpu_client, 3),
            "cpu_server_s": None if self.cpu_server is None else round(self.cpu_server, 3),
            "figures": {k: round(v, 4) for k, v in self.figures.items()},
        }


class Probe:
    """Context manager filling a Measurement from counter differences around the block."""

    def __init__(
        self,
        measurement: Measurement,
        stores: list[ObjectStore],
        db: MagentoDatabase | None,
        rows: RowCounter | None,
        rss: RssSampler | None,
        server_pid: int | None = None,
    ) -> None:
        self.m = measurement
        self._stores, self._db, self._rows, self._rss = stores, db, rows, rss
        self._server = CpuClock(server_pid) if server_pid else None

    def __enter__(self) -> Measurement:
        self._requests = [s.requests.snapshot() for s in self._stores]
        self._statements = self._db.statements() if self._db else (0, 0)
        self._rows_before = self._rows.snapshot() if self._rows else Counter()
        if self._rss:
            self._rss.reset()
        self._cpu = time.process_time()
        self._server_cpu = self._server.seconds() if self._server else 0.0
        self._started = time.perf_counter()
        return self.m

    def __exit__(self, *exc: object) -> None:
        self.m.seconds = time.perf_counter() - self._started
        self.m.cpu_client = time.process_time() - self._cpu
        if self._server:
            self.m.cpu_server = self._server.seconds() - self._server_cpu
        total: Counter[str] = Counter()
        for store, before in zip(self._stores, self._requests, strict=True):
            total.update(store.requests.since(before))
        self.m.requests = {k: total.get(k, 0) for k in REQUEST_KINDS}
        if self._db:
            after = self._db.statements()
            self.m.statements = after[0] - self._statements[0]
            self.m.writes = after[1] - self._statements[1]
        if self._rows:
            diff = self._rows.snapshot()
            diff.subtract(self._rows_before)
            self.m.rows = {k: v for k, v in sorted(diff.items()) if v}
        if self._rss:
            self.m.peak_rss = self._rss.peak()


class CpuClock:
    """CPU seconds (user + system) used so far by another process, e.g. the moto server's child."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)

    def seconds(self) -> float:
        """CPU seconds (user + system) of the process so far."""
        times = self._process.cpu_times()
        return times.user + times.system


class Phases:
    """Wall time per named phase of a scenario."""

    def __init__(self, into: dict[str, float]) -> None:
        self._into = into

    def __call__(self, name: str) -> _Phase:
        """A context manager adding its wall time to phase `name`."""
        return _Phase(self._into, name)


class _Phase:
    def __init__(self, into: dict[str, float], name: str) -> None:
        self._into, self._name = into, name

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._into[self._name] = self._into.get(self._name, 0.0) + time.perf_counter() - self._started
