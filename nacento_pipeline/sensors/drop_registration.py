"""One pass over the drop prefix: complete batches are validated, archived and cleaned up; bad drops are moved
aside with a report. Dagster-free, so the sensor, the CLI and the tests share it."""


from collections.abc import Mapping
from dataclasses import dataclass, field

from nacento_pipeline.core.bunch_sniff import SNIFF_BYTES, sniff_bunch
from nacento_pipeline.core.dropzone import (
    BatchDrop,
    InvalidDrop,
    apply_ok_listing,
    run_key,
    scan_drop,
)
from nacento_pipeline.storage.archive import BatchManifest, archive_drop, move_aside
from nacento_pipeline.storage.base import ObjectStore


@dataclass(frozen=True)
class Registered:
    drop: BatchDrop
    manifest: BatchManifest

    @property
    def run_key(self) -> str:
        return run_key(self.drop)


@dataclass(frozen=True)
class Rejected:
    label: str
    reason: str
    keys: tuple[str, ...]
    moved_to: str


@dataclass
class DropPass:
    """What one pass found and did."""

    registered: list[Registered] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    deferred: int = 0  # complete batches left for the next pass (per-pass limit)
    objects_listed: int = 0
    requests: dict[str, int] = field(default_factory=dict)


def _read_head(store: ObjectStore, key: str) -> bytes:
    head = bytearray()
    for chunk in store.open(key):
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    return bytes(head[:SNIFF_BYTES])


def _validate(store: ObjectStore, drop: BatchDrop, sizes: Mapping[str, int], sniff: bool
              ) -> BatchDrop | InvalidDrop:
    ok_text = store.get(drop.ok_key).decode("utf-8", errors="replace")
    checked = apply_ok_listing(drop, ok_text)
    if isinstance(checked, InvalidDrop) or not sniff:
        return checked
    problems = []
    for key in checked.bunch_keys:
        name = key.rsplit("/", 1)[-1]
        reason = sniff_bunch(name, _read_head(store, key) if sizes[key] else b"", sizes[key])
        if reason:
            problems.append(reason)
    if problems:
        return InvalidDrop(
            batch_key=drop.batch_key,
            keys=tuple(drop.bunch_keys) + (drop.ok_key,),
            reason="; ".join(problems),
        )
    return checked


def register_drops(
    store: ObjectStore,
    *,
    drop_prefix: str,
    archive_prefix: str,
    rejected_prefix: str,
    already_registered: Mapping[str, str] | None = None,
    max_batches: int = 25,
    cleanup: bool = True,
) -> DropPass:
    """Scan the drop prefix once and register every complete, valid batch (oldest OK file first).

    `already_registered` maps OK-file keys to the ETag registered before (a pass whose clean-up failed):
    such a drop is not sniffed again; archiving is idempotent and its run request repeats with the same
    run key, which Dagster ignores.
    """
    before = store.requests.snapshot()
    outcome = DropPass()
    objects = list(store.list(drop_prefix))
    outcome.objects_listed = len(objects)
    sizes = {o.key: o.size for o in objects}
    scan = scan_drop(objects, drop_prefix)
    outcome.pending = list(scan.pending)
    for invalid in scan.invalid:
        outcome.rejected.append(_reject(store, invalid, rejected_prefix))
    complete = sorted(scan.complete, key=lambda d: (d.ok_last_modified is None, d.ok_last_modified, d.batch_key))
    outcome.deferred = max(0, len(complete) - max_batches)
    for drop in complete[:max_batches]:
        seen = (already_registered or {}).get(drop.ok_key) == drop.ok_etag
        checked = _validate(store, drop, sizes, sniff=not seen)
        if isinstance(checked, InvalidDrop):
            outcome.rejected.append(_reject(store, checked, rejected_prefix))
            continue
        manifest = archive_drop(store, checked, archive_prefix)
        outcome.registered.append(Registered(drop=checked, manifest=manifest))
        if cleanup:
            # The whole batch goes, listed or not: unlisted leftovers would otherwise wait forever.
            store.delete(list(drop.bunch_keys) + [drop.ok_key])
    outcome.requests = store.requests.since(before)
    return outcome


def _reject(store: ObjectStore, invalid: InvalidDrop, rejected_prefix: str) -> Rejected:
    keys = tuple(invalid.keys)
    folder = move_aside(store, keys, rejected_prefix, invalid.batch_key or "invalid-names", invalid.reason)
    return Rejected(label=invalid.batch_key, reason=invalid.reason, keys=keys, moved_to=folder)
