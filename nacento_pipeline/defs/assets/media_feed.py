"""The ETag snapshot with the media change feed on: drain the bucket's events, then LIST only what changed.

The snapshot step drains the queue itself rather than a separate sensor: the events are needed exactly when a
snapshot runs, so draining right before it sees every event delivered until then (a sensor would leave the
events of its last few seconds out, and adds a daemon tick whose failure the snapshot could not see), and a
queue that cannot be read is known here, where it matters (the snapshot falls back to a full LIST).
Each drain inserts the events of the media prefix into `nacento_media_feed_event` (and forgets the remembered
state of the keys they name) in one transaction, and acknowledges the messages only once it is committed.

Then (core.media_feed) either a full snapshot (every key looked up, compared with the memory: the feed's
audit) or a feed snapshot (the keys of prefixes with events since the last full snapshot, and keys never
seen, looked up; the rest from memory). Dagster-free, so the bench times the same function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from nacento_pipeline.core.delta.model import to_utc_naive
from nacento_pipeline.core.media_feed import combine, full_snapshot_reason, missed_changes, split_wanted
from nacento_pipeline.magento import media_feed as tables
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.storage.adapters.base import ObjectStore, StorageError
from nacento_pipeline.storage.adapters.event_queue import QueueMessage, SqsEventQueue
from nacento_pipeline.storage.etag_snapshot import EtagSnapshot, snapshot_etags

DEFAULT_FULL_HOURS = 24
MAX_DRAIN_MESSAGES = 100_000  # per snapshot; more waiting is a gap (a full LIST covers it)


@dataclass
class FeedSnapshot:
    """The snapshot and how it was taken: `mode` feed or full, why, what was listed, what came from memory."""

    snapshot: EtagSnapshot
    mode: str
    reason: str = ""  # why full
    messages: int = 0
    events: int = 0  # events of the media prefix drained now
    # prefixes of the batch with events since the last full snapshot
    event_prefixes: list[str] = field(default_factory=list)
    looked_up: int = 0
    from_memory: int = 0
    never_seen: int = 0
    missed: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["key", "was_etag", "now_etag"])
    )
    last_full: datetime | None = None  # before this snapshot
    warnings: list[str] = field(default_factory=list)
    queue_calls: dict[str, int] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _events_frame(messages: list[QueueMessage], media_prefix: str) -> pd.DataFrame:
    rows = [
        (e.info.key, e.created, e.info.etag, to_utc_naive(e.info.last_modified))
        for m in messages
        for e in m.events
        if e.info.key.startswith(media_prefix)
    ]
    return pd.DataFrame(rows, columns=["key", "created", "etag", "event_time"])


def drain_feed(
    db: MagentoDatabase, queue: SqsEventQueue, media_prefix: str
) -> tuple[int, int, list[str], list[str]]:
    """Receive what waits, record the media prefix's events, then acknowledge.

    Returns (messages, events, gaps, warnings).
    """
    gaps: list[str] = []
    warnings: list[str] = []
    messages: list[QueueMessage] = []
    try:
        while len(messages) < MAX_DRAIN_MESSAGES:
            got = queue.receive(min(1000, MAX_DRAIN_MESSAGES - len(messages)))
            messages += got
            if len(got) < 1000:
                break
        else:
            gaps.append(f"more than {MAX_DRAIN_MESSAGES} messages waiting on {queue.queue_url}")
    except StorageError as exc:
        gaps.append(f"queue unreachable: {exc}")
    unreadable = [m.error for m in messages if m.error]
    if unreadable:
        gaps.append(f"{len(unreadable)} unreadable message(s); first: {unreadable[0]}")
    events = _events_frame(messages, media_prefix)
    tables.record_events(db, events, _now())
    try:
        queue.ack([m.receipt for m in messages])
    except StorageError as exc:
        # recorded already: the messages come back and are recorded once more (harmless)
        warnings.append(str(exc))
    return len(messages), len(events), gaps, warnings


def feed_snapshot(
    store: ObjectStore,
    db: MagentoDatabase,
    queue: SqsEventQueue,
    wanted: pd.DataFrame,
    *,
    media_prefix: str,
    full_hours: int = DEFAULT_FULL_HOURS,
    head_concurrency: int = 16,
) -> FeedSnapshot:
    """The ETag snapshot of `wanted` (value, key) with the feed: drain, then a feed snapshot or a full one."""
    wanted = wanted.loc[:, ["value", "key"]].drop_duplicates(subset="key").reset_index(drop=True)
    calls_before = dict(queue.calls)
    messages, events, gaps, warnings = drain_feed(db, queue, media_prefix)
    started = _now()
    last_full = tables.last_full_snapshot(db)
    reason = full_snapshot_reason(last_full, started, full_hours, gaps)
    event_keys = tables.event_keys_since(db, last_full)
    memory = tables.read_memory(db, list(wanted["key"]))
    out = FeedSnapshot(
        snapshot=EtagSnapshot(frame=pd.DataFrame()),
        mode="full" if reason else "feed",
        reason=reason,
        messages=messages,
        events=events,
        last_full=last_full,
        warnings=warnings,
    )
    if gaps:
        out.warnings.append(reason + "; a full LIST ran instead")
    if reason:
        snapshot = snapshot_etags(store, wanted, head_concurrency=head_concurrency)
        out.missed = missed_changes(snapshot.frame, memory, event_keys)
        if len(out.missed):
            out.warnings.append(
                f"the full LIST found {len(out.missed)} change(s) the feed did not deliver; first: "
                f"{out.missed['key'].iloc[0]} (ETag {out.missed['was_etag'].iloc[0] or '-'} -> "
                f"{out.missed['now_etag'].iloc[0] or '-'}); the memory is reset from this LIST"
            )
        tables.remember(db, snapshot.frame, started)
        tables.record_full_snapshot(db, started)
        out.looked_up = len(wanted)
    else:
        split = split_wanted(wanted, memory, event_keys)
        snapshot = snapshot_etags(store, split.lookup, head_concurrency=head_concurrency)
        tables.remember(db, snapshot.frame, started)
        snapshot = EtagSnapshot(
            frame=combine(wanted, snapshot.frame, split.remembered),
            requests=snapshot.requests,
            strategy=snapshot.strategy,
        )
        out.event_prefixes, out.never_seen = split.event_prefixes, split.never_seen
        out.looked_up, out.from_memory = len(split.lookup), len(split.remembered)
    out.snapshot = snapshot
    out.queue_calls = {k: v - calls_before.get(k, 0) for k, v in queue.calls.items()}
    return out


def feed_metadata(result: FeedSnapshot) -> dict[str, object]:
    """Plain figures of how the snapshot was taken (the asset wraps them as metadata)."""
    strategy = result.snapshot.strategy
    return {
        "mode": result.mode,
        "full_reason": result.reason or "-",
        "prefixes_listed": int(strategy.get("listed_prefixes", 0)),
        "keys_looked_up": result.looked_up,
        "keys_from_memory": result.from_memory,
        "keys_never_seen": result.never_seen,
        "event_prefixes": len(result.event_prefixes),
        "messages_drained": result.messages,
        "events_drained": result.events,
        "missed_by_feed": len(result.missed),
        "last_full_snapshot": f"{result.last_full:%Y-%m-%d %H:%M:%S} UTC" if result.last_full else "-",
    }
