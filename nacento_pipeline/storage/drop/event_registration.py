"""Event-mode drop registration: a pass costs O(new objects), not O(objects lying in the drop prefix).

The bucket's event notifications (read from a queue) name the batches that changed. For each, the pass lists
only that batch's own names (`<drop prefix>import-<batch key>`, one LIST page for up to 1000 files) and runs
the same registration as the LIST scan on them: a lost bunch-file event can never register an incomplete
batch, since the batch's files come from the bucket, not from the events. Batches archived but not yet
cleaned up, and batches whose registration failed, are carried in the caller's state and looked at again.
A periodic full LIST (`reconcile=True`) registers whatever a lost message left behind; so does the first
pass, and any event naming a key that breaks the drop convention (it must be moved aside with a report).
Dagster-free, like `registration`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from nacento_pipeline.core.batch.input_limits import InputLimits
from nacento_pipeline.core.drop.dropzone import (
    NAME_PREFIX,
    DropName,
    InvalidName,
    export_folder_member,
    parse_drop_name,
)
from nacento_pipeline.core.paths import MEDIA_PREFIX
from nacento_pipeline.storage.adapters.base import ObjectInfo, ObjectStore
from nacento_pipeline.storage.adapters.event_queue import QueueMessage, SqsEventQueue
from nacento_pipeline.storage.drop.registration import DropPass, register_drops

DEFAULT_MAX_MESSAGES = 1000


@dataclass
class EventPass:
    """What one event-mode pass read and did; `drop` is the registration outcome."""

    drop: DropPass
    messages: int = 0
    events: int = 0
    batches: list[str] = field(default_factory=list)  # batch keys looked at (events + carried state)
    unreadable: list[str] = field(default_factory=list)  # messages that were not event notifications
    reconciled: bool = False  # the whole drop prefix was listed
    gone: list[str] = field(default_factory=list)  # batch keys looked at that have no file in the drop prefix
    queue_calls: dict[str, int] = field(default_factory=dict)


def batch_objects(store: ObjectStore, drop_prefix: str, batch_key: str) -> list[ObjectInfo]:
    """The objects of one batch: a LIST of the batch's name prefix, keeping only what belongs to the batch.

    That is the batch's names and the files of its export folder (`import-<batch key>/...`, an Akeneo export).
    """
    out = []
    for info in store.list(f"{drop_prefix}{NAME_PREFIX}{batch_key}"):
        parsed = parse_drop_name(info.key, drop_prefix)
        member = export_folder_member(info.key, drop_prefix)
        if (isinstance(parsed, DropName) and parsed.batch_key == batch_key) or (
            member is not None and member[0] == batch_key
        ):
            out.append(info)
    return out


def register_from_events(
    store: ObjectStore,
    queue: SqsEventQueue,
    *,
    drop_prefix: str,
    archive_prefix: str,
    rejected_prefix: str,
    carried: Iterable[str] = (),
    reconcile: bool = False,
    is_registered: Callable[[str], bool] | None = None,
    archived_versions: Mapping[str, str] | None = None,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    max_batches: int = 25,
    media_prefix: str = MEDIA_PREFIX,
    copy_concurrency: int = 16,
    limits: InputLimits | None = None,
) -> EventPass:
    """Drain up to `max_messages` queue messages, register the batches they name, acknowledge the messages.

    The `carried` batch keys are registered too. Events of other buckets' prefixes or sub-folders are ignored.
    """
    before = store.requests.snapshot()
    calls_before = dict(queue.calls)
    messages = queue.receive(max_messages)
    named, events, names_invalid = _batches_named(messages, drop_prefix)
    batches = list(dict.fromkeys([*named, *carried]))
    reconcile = reconcile or names_invalid
    objects, gone = (None, []) if reconcile else _objects_of_batches(store, drop_prefix, batches)
    outcome = register_drops(
        store,
        drop_prefix=drop_prefix,
        archive_prefix=archive_prefix,
        rejected_prefix=rejected_prefix,
        is_registered=is_registered,
        archived_versions=archived_versions,
        max_batches=max_batches,
        objects=objects,
        media_prefix=media_prefix,
        copy_concurrency=copy_concurrency,
        limits=limits,
    )
    queue.ack([m.receipt for m in messages])
    outcome.requests = store.requests.since(before)
    return EventPass(
        drop=outcome,
        messages=len(messages),
        events=events,
        batches=batches,
        unreadable=[m.error for m in messages if m.error],
        reconciled=reconcile,
        gone=gone,
        queue_calls={k: v - calls_before.get(k, 0) for k, v in queue.calls.items()},
    )


def _batches_named(messages: Iterable[QueueMessage], drop_prefix: str) -> tuple[list[str], int, bool]:
    """(batch keys the messages' events name, in order; how many events; whether a key breaks the convention).

    A key breaking the drop convention is moved aside, with its report, only by the full scan.
    """
    batches: list[str] = []
    events = 0
    names_invalid = False
    for message in messages:
        for event in message.events:
            events += 1
            parsed = parse_drop_name(event.info.key, drop_prefix)
            if isinstance(parsed, DropName):
                batches.append(parsed.batch_key)
            elif isinstance(parsed, InvalidName):
                names_invalid = True
    return batches, events, names_invalid


def _objects_of_batches(
    store: ObjectStore,
    drop_prefix: str,
    batches: Iterable[str],
) -> tuple[list[ObjectInfo], list[str]]:
    """(the objects of the batches, one LIST each; the batch keys that have no file in the drop prefix)."""
    objects: list[ObjectInfo] = []
    gone: list[str] = []
    for key in batches:
        found = batch_objects(store, drop_prefix, key)
        objects += found
        if not found:
            gone.append(key)
    return objects, gone
