"""One pass over the drop prefix: complete batches archived, bad drops moved aside.

Complete batches are validated, archived and cleaned up; bad drops are moved aside with a report.
Dagster-free, so the sensor, the benchmark and the tests share it.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from nacento_pipeline.core.akeneo.export import sniff_export
from nacento_pipeline.core.batch.input_limits import (
    InputLimits,
    bunch_files_over_limit,
    first_invalid,
    ok_file_over_limit,
)
from nacento_pipeline.core.batch.sniffing import SNIFF_BYTES, sniff_bunch
from nacento_pipeline.core.drop.dropzone import (
    BatchDrop,
    InvalidDrop,
    apply_ok_listing,
    archive_version,
    run_key,
    scan_drop,
)
from nacento_pipeline.core.objects import key_name
from nacento_pipeline.core.paths import MEDIA_PREFIX
from nacento_pipeline.storage.adapters.base import ObjectInfo, ObjectStore
from nacento_pipeline.storage.drop.archive import (
    MANIFEST,
    BatchManifest,
    archive_drop,
    move_aside,
    version_prefix,
)
from nacento_pipeline.storage.media_placement import place_media


@dataclass(frozen=True)
class Registered:
    """A batch this pass registered: the drop and its archive manifest."""

    drop: BatchDrop
    manifest: BatchManifest

    @property
    def run_key(self) -> str:
        """The Dagster run key of the drop (`run_key`): a changed drop is a new run."""
        return run_key(self.drop)


@dataclass(frozen=True)
class Rejected:
    """A drop this pass moved aside: what it was, why, its keys and where they went."""

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
    cleaned: list[str] = field(default_factory=list)  # OK keys of drops registered earlier, now removed
    failed: list[tuple[str, str]] = field(default_factory=list)  # (batch key, error): left for the next pass
    objects_listed: int = 0
    media_copied: int = 0  # export folder drops: image files copied to the media prefix
    media_kept: int = 0  # ... already there with the same content, not copied
    requests: dict[str, int] = field(default_factory=dict)
    invalid_left: int = 0  # invalid names left in the drop prefix for the next passes (per-pass limit)


def _read_head(store: ObjectStore, key: str) -> bytes:
    head = bytearray()
    for chunk in store.open(key):
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    return bytes(head[:SNIFF_BYTES])


def _listed(store: ObjectStore, drop: BatchDrop, sizes: Mapping[str, int]) -> BatchDrop | InvalidDrop:
    """The drop restricted to the bunch files its OK file lists (an empty OK file lists every one)."""
    if not sizes.get(drop.ok_key):
        return drop
    return apply_ok_listing(drop, store.get(drop.ok_key).decode("utf-8", errors="replace"))


def _sniffed(store: ObjectStore, drop: BatchDrop, sizes: Mapping[str, int]) -> BatchDrop | InvalidDrop:
    """The drop, or an InvalidDrop naming every bunch file the parser would refuse as unreadable."""
    problems = []
    sniff = sniff_export if drop.is_export_folder else sniff_bunch
    for key in drop.bunch_keys:
        reason = sniff(key_name(key), _read_head(store, key) if sizes[key] else b"", sizes[key])
        if reason:
            problems.append(reason)
    if problems:
        return InvalidDrop(batch_key=drop.batch_key, keys=drop.keys, reason="; ".join(problems))
    return drop


def register_drops(
    store: ObjectStore,
    *,
    drop_prefix: str,
    archive_prefix: str,
    rejected_prefix: str,
    is_registered: Callable[[str], bool] | None = None,
    archived_versions: Mapping[str, str] | None = None,
    max_batches: int = 25,
    objects: Iterable[ObjectInfo] | None = None,
    media_prefix: str = MEDIA_PREFIX,
    copy_concurrency: int = 16,
    limits: InputLimits | None = None,
) -> DropPass:
    """Scan the drop prefix once and register every complete, valid batch (oldest OK file first).

    A drop leaves the drop prefix only once it is safe: with `is_registered` (the sensor passes "does the
    Dagster instance have this partition?"), a pass archives and reports a drop, and a later pass deletes it
    once its archived version exists and its partition is registered, so a tick that dies half-way never
    loses a batch. Without `is_registered` the caller registers synchronously and drops are deleted at once.
    A failure on one drop is reported and leaves that drop in place for the next pass; the others go on.
    `archived_versions` (OK-file key -> archive version, the sensor's cursor) spares the manifest HEAD of
    drops this caller archived before. `objects` replaces the LIST of the drop prefix (the event-mode sensor
    passes the objects of the batches its events named). An export folder drop's media files are copied to
    `media_prefix` (server side, each content once) before it is archived. `limits` (core.batch.input_limits):
    a drop whose OK file or a bunch file is over its cap is refused from the listed sizes before anything is
    read; at most so many invalid names are moved aside per pass.
    """
    limits = limits or InputLimits()
    before = store.requests.snapshot()
    outcome = DropPass()
    objects = list(store.list(drop_prefix) if objects is None else objects)
    outcome.objects_listed = len(objects)
    sizes = {o.key: o.size for o in objects}
    scan = scan_drop(objects, drop_prefix)
    outcome.pending = list(scan.pending)
    invalid, outcome.invalid_left = first_invalid(scan.invalid, limits.invalid_names_per_pass)
    _move_aside_invalid(store, invalid, rejected_prefix, outcome)
    complete = sorted(
        scan.complete, key=lambda d: (d.ok_last_modified is None, d.ok_last_modified, d.batch_key)
    )
    outcome.deferred = max(0, len(complete) - max_batches)
    for drop in complete[:max_batches]:
        try:
            _register_one(
                store,
                drop,
                sizes,
                archive_prefix,
                rejected_prefix,
                is_registered,
                archived_versions or {},
                outcome,
                (media_prefix, copy_concurrency),
                limits,
            )
        except Exception as exc:  # noqa: BLE001 - one bad drop must not stop the others
            outcome.failed.append((drop.batch_key, f"{type(exc).__name__}: {exc}"))
    outcome.requests = store.requests.since(before)
    return outcome


def _move_aside_invalid(
    store: ObjectStore, invalid: Iterable[InvalidDrop], rejected_prefix: str, outcome: DropPass
) -> None:
    """Files that cannot form a batch go to the rejected prefix with their report; a failure is retried."""
    for drop in invalid:
        try:
            outcome.rejected.append(_reject(store, drop, rejected_prefix))
        except Exception as exc:  # noqa: BLE001 - reported, retried next pass
            outcome.failed.append((drop.batch_key or "(bad names)", f"moving aside failed: {exc}"))


def _register_one(
    store: ObjectStore,
    drop: BatchDrop,
    sizes: Mapping[str, int],
    archive_prefix: str,
    rejected_prefix: str,
    is_registered: Callable[[str], bool] | None,
    archived_versions: Mapping[str, str],
    outcome: DropPass,
    media: tuple[str, int],
    limits: InputLimits,
) -> None:
    too_big = ok_file_over_limit(drop, sizes.get(drop.ok_key, 0), limits)
    if too_big is not None:
        outcome.rejected.append(_reject(store, too_big, rejected_prefix))
        return
    listed = _listed(store, drop, sizes)
    if isinstance(listed, InvalidDrop):
        outcome.rejected.append(_reject(store, listed, rejected_prefix))
        return
    # The version of what is archived: the listed files only, so a partial listing is archived once.
    version = archive_version(listed)
    archived = (
        archived_versions.get(drop.ok_key) == version
        or store.head(version_prefix(archive_prefix, drop.batch_key, version) + MANIFEST) is not None
    )
    if archived and is_registered is not None and is_registered(drop.batch_key):
        _set_aside_unlisted(store, listed, rejected_prefix, outcome)
        store.delete(list(listed.keys))
        outcome.cleaned.append(drop.ok_key)
        return
    checked = (
        listed if archived else (bunch_files_over_limit(listed, limits) or _sniffed(store, listed, sizes))
    )
    if isinstance(checked, InvalidDrop):
        outcome.rejected.append(_reject(store, checked, rejected_prefix))
        _set_aside_unlisted(store, listed, rejected_prefix, outcome)
        return
    values = None
    if checked.is_export_folder:
        placement = place_media(
            store, checked.media, media_prefix=media[0], name_of=checked.relative, concurrency=media[1]
        )
        outcome.media_copied += placement.copied
        outcome.media_kept += placement.kept
        values = placement.values
    manifest = archive_drop(store, checked, archive_prefix, values)
    outcome.registered.append(Registered(drop=checked, manifest=manifest))
    _set_aside_unlisted(store, listed, rejected_prefix, outcome)
    if is_registered is None:
        store.delete(list(listed.keys))


def _set_aside_unlisted(
    store: ObjectStore, listed: BatchDrop, rejected_prefix: str, outcome: DropPass
) -> None:
    """Bunch files of the batch that its OK file does not list leave the drop prefix, with their report."""
    if not listed.unlisted_keys:
        return
    ok_name = key_name(listed.ok_key)
    names = ", ".join(key_name(key) for key in listed.unlisted_keys)
    unlisted = InvalidDrop(
        batch_key=listed.batch_key,
        keys=listed.unlisted_keys,
        reason=f"not listed by the OK file {ok_name}, so not part of the batch: {names}",
    )
    outcome.rejected.append(_reject(store, unlisted, rejected_prefix))


def _reject(store: ObjectStore, invalid: InvalidDrop, rejected_prefix: str) -> Rejected:
    keys = tuple(invalid.keys)
    folder = move_aside(store, keys, rejected_prefix, invalid.batch_key or "invalid-names", invalid.reason)
    return Rejected(label=invalid.batch_key, reason=invalid.reason, keys=keys, moved_to=folder)
