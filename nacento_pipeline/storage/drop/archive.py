"""The batch archive: where a registered batch is kept immutable, and where rejected drops are moved aside.

Layout (all under the same bucket):
  <archive prefix><batch key>/<version>/<bunch and OK files>   version = drop time + OK ETag, sorts by time
  <archive prefix><batch key>/<version>/manifest.json          what was registered, by whom, when
  <archive prefix><batch key>/<version>/status.json            last run outcome (written after each run)
  <rejected prefix><batch key or name>/<stamp>/<files> + report.json + REPORT.md
Re-runs and backfills read exactly what was dropped, from the archive, never from the drop prefix.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from nacento_pipeline.core.batch.source import BunchSource
from nacento_pipeline.core.drop.dropzone import BatchDrop, archive_version
from nacento_pipeline.core.objects import key_name
from nacento_pipeline.storage.adapters.base import ObjectStore

MANIFEST = "manifest.json"
MEDIA_VALUES = (
    "media-values.json"  # export folder drops: path in the folder -> gallery value it was copied to
)
_SAFE_LABEL = re.compile(r"[^A-Za-z0-9._-]")
STATUS = "status.json"


class ArchiveError(RuntimeError):
    """The archive does not hold what a run needs (names the batch key and version)."""


@dataclass(frozen=True)
class ArchivedFile:
    """One bunch file of a registered drop, as archived: its name, archive key, ETag and size."""

    name: str
    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class BatchManifest:
    """What the sensor registered for one drop of a batch."""

    batch_key: str
    version: str
    ok_etag: str
    batch_time: str  # ISO-8601 UTC: the OK file's last-modified time, used to order batches per SKU
    registered_at: str
    prefix: str  # archive folder of this version, with trailing slash
    files: tuple[ArchivedFile, ...] = field(default_factory=tuple)
    ok_file: str = ""
    export_folder: bool = False  # an export folder drop (Akeneo): its files are read with the export mapping
    media_file: str = ""  # its archived MEDIA_VALUES object ("" when it has no media)

    @property
    def batch_datetime(self) -> datetime:
        """`batch_time` as a datetime."""
        return datetime.fromisoformat(self.batch_time)

    def to_json(self) -> bytes:
        """The manifest as the JSON document archived beside the batch."""
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> BatchManifest:
        """The manifest of an archived JSON document (`to_json`'s)."""
        raw = json.loads(data)
        files = tuple(ArchivedFile(**f) for f in raw.pop("files", ()))
        return cls(files=files, **raw)


def version_prefix(archive_prefix: str, batch_key: str, version: str) -> str:
    """The archive folder of one version of a batch, with a trailing slash."""
    return f"{archive_prefix}{batch_key}/{version}/"


def archive_drop(
    store: ObjectStore, drop: BatchDrop, archive_prefix: str, media_values: Mapping[str, str] | None = None
) -> BatchManifest:
    """Copy a complete drop into its immutable archive folder and write the manifest (idempotent).

    An export folder drop's media files are not archived (they were copied to the media prefix already):
    `media_values` (path in the folder -> gallery value) is archived in their place.
    """
    version = archive_version(drop)
    prefix = version_prefix(archive_prefix, drop.batch_key, version)
    files = []
    for key in drop.bunch_keys:
        target = prefix + key_name(key)
        store.copy(key, target)
        info = store.head(target)
        if info is None:
            raise ArchiveError(f"batch {drop.batch_key}: copy of {key} to {target} is missing")
        files.append(ArchivedFile(name=key_name(key), key=target, etag=info.etag, size=info.size))
    store.copy(drop.ok_key, prefix + key_name(drop.ok_key))
    media_file = ""
    if media_values:
        media_file = MEDIA_VALUES
        store.put(prefix + MEDIA_VALUES, json.dumps(dict(media_values), indent=1, sort_keys=True).encode())
    batch_time = drop.ok_last_modified or datetime.now(UTC)
    if batch_time.tzinfo is None:
        batch_time = batch_time.replace(tzinfo=UTC)
    manifest = BatchManifest(
        batch_key=drop.batch_key,
        version=version,
        ok_etag=drop.ok_etag,
        batch_time=batch_time.astimezone(UTC).isoformat(),
        registered_at=datetime.now(UTC).isoformat(),
        prefix=prefix,
        files=tuple(files),
        ok_file=key_name(drop.ok_key),
        export_folder=drop.is_export_folder,
        media_file=media_file,
    )
    store.put(prefix + MANIFEST, manifest.to_json())
    return manifest


def list_versions(store: ObjectStore, archive_prefix: str, batch_key: str) -> list[str]:
    """Archived versions of a batch that have a manifest, oldest first."""
    base = f"{archive_prefix}{batch_key}/"
    versions = []
    for info in store.list(base):
        rest = info.key[len(base) :]
        if rest.count("/") == 1 and rest.endswith("/" + MANIFEST):
            versions.append(rest.split("/", 1)[0])
    return sorted(versions)


def load_manifest(
    store: ObjectStore, archive_prefix: str, batch_key: str, version: str | None = None
) -> BatchManifest:
    """The manifest of one version, or of the newest one when `version` is None."""
    if version is None:
        versions = list_versions(store, archive_prefix, batch_key)
        if not versions:
            raise ArchiveError(
                f"batch {batch_key}: nothing archived under {archive_prefix}{batch_key}/ "
                "(was it registered by the sensor?)"
            )
        version = versions[-1]
    key = version_prefix(archive_prefix, batch_key, version) + MANIFEST
    try:
        return BatchManifest.from_json(store.get(key))
    except KeyError as exc:
        raise ArchiveError(f"batch {batch_key}: no manifest at {key}") from exc


def bunch_sources(store: ObjectStore, manifest: BatchManifest) -> list[BunchSource]:
    """The archived bunch files as lazily streamed sources, in counter order."""

    def opener(key: str):
        return lambda: store.open(key)

    return [BunchSource(name=f.name, chunks=opener(f.key)) for f in manifest.files]


def media_values(store: ObjectStore, manifest: BatchManifest) -> dict[str, str]:
    """The archived media values of an export folder drop (path in the folder -> gallery value)."""
    if not manifest.media_file:
        return {}
    try:
        return dict(json.loads(store.get(manifest.prefix + manifest.media_file)))
    except KeyError as exc:
        raise ArchiveError(
            f"batch {manifest.batch_key}: no {manifest.media_file} in {manifest.prefix}"
        ) from exc


def _write_status(store: ObjectStore, manifest: BatchManifest, status: dict[str, object]) -> None:
    """Write `status` as the archived batch's STATUS document."""
    store.put(manifest.prefix + STATUS, json.dumps(status, indent=2, sort_keys=True, default=str).encode())


def mark_batch(
    store: ObjectStore, archive_prefix: str, batch_key: str, version: str | None, status: str, run_id: str
) -> str | None:
    """Write a run's outcome next to the archived batch; the status key, or None if it is not archived."""
    try:
        manifest = load_manifest(store, archive_prefix, batch_key, version)
    except ArchiveError:
        return None
    _write_status(
        store,
        manifest,
        {"status": status, "run_id": run_id, "at": datetime.now(UTC).isoformat(), "batch_key": batch_key},
    )
    return manifest.prefix + STATUS


def read_status(store: ObjectStore, manifest: BatchManifest) -> dict[str, object] | None:
    """The archived batch's STATUS document, or None when no run wrote one."""
    try:
        return json.loads(store.get(manifest.prefix + STATUS))
    except KeyError:
        return None


def move_aside(
    store: ObjectStore,
    keys: Sequence[str],
    rejected_prefix: str,
    label: str,
    reason: str,
    details: Iterable[str] = (),
) -> str:
    """Move rejected drop files to `<rejected prefix><label>/<stamp>/` with a report; returns that folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    label = _SAFE_LABEL.sub("_", label)[:128] or "unnamed"
    folder = f"{rejected_prefix}{label}/{stamp}/"
    # Paths below the keys' common folder are kept, so an export folder's files/... cannot overwrite each
    # other.
    base = os.path.commonprefix(list(keys)).rpartition("/")[0]
    for key in keys:
        store.copy(key, folder + (key[len(base) + 1 :] if base else key))
    details = list(details)
    report = {"label": label, "reason": reason, "files": list(keys), "details": details, "moved_at": stamp}
    store.put(folder + "report.json", json.dumps(report, indent=2).encode())
    lines = [f"# Rejected drop: {label}", "", f"**Reason:** {reason}", "", "Files:"]
    lines += [f"- `{k}`" for k in keys] + [""] + [f"- {d}" for d in details]
    store.put(folder + "REPORT.md", "\n".join(lines).encode())
    store.delete(list(keys))
    return folder
