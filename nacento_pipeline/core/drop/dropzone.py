"""The OK-file convention of the drop prefix: parse keys, group bunch files into batches, judge the batches.

Each batch is complete, still pending, or invalid.

Names: bunch file `import-<type>_<identifier>_<counter>.<ext>` with the extension of a registered bunch format
(core.batch.formats: csv, json, jsonl), OK file
`import-<type>_<identifier>.ok`; the batch key `<type>_<identifier>` is the Dagster partition key and must
match `[A-Za-z0-9._-]{1,128}`. The type is the part before the first `_`, the counter the part after the last
`_` (digits), so identifiers may themselves contain `_` and `-`.

An *export folder* `import-<type>_<identifier>/` in the drop prefix is a batch too (an Akeneo product export
as Akeneo writes it): its bunch files are the `.csv`/`.xlsx` files at the folder's top (in natural order:
`export_2.xlsx` before `export_10.xlsx`), its media files everything under `files/`; it is completed by the
same OK file `import-<type>_<identifier>.ok` beside the folder, empty or listing the export's files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from nacento_pipeline.core.batch.formats import (
    OK_EXTENSION,
    bunch_extensions,
    extension_of,
    registered_formats,
)
from nacento_pipeline.core.objects import ObjectInfo, key_name

NAME_PREFIX = "import-"
EXPORT_FILE_EXTENSIONS = ("csv", "xlsx")  # the data files of an export folder
EXPORT_MEDIA_FOLDER = "files/"
BATCH_KEY_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DropName:
    """A well-formed bunch or OK file name."""

    key: str
    kind: str  # "bunch" | "ok"
    type: str
    identifier: str
    counter: int | None  # None for the OK file
    ext: str  # lower-cased: a registered bunch format's extension or "ok"

    @property
    def batch_key(self) -> str:
        """The batch the file belongs to, `<type>_<identifier>`."""
        return f"{self.type}_{self.identifier}"

    @property
    def name(self) -> str:
        """The file name (the key's last segment)."""
        return key_name(self.key)


@dataclass(frozen=True)
class InvalidName:
    """A file in the drop prefix that breaks the convention; `batch_key` is set when one could be read."""

    key: str
    reason: str
    batch_key: str = ""


@dataclass(frozen=True)
class InvalidDrop:
    """Files that cannot form a batch (moved aside and reported by the caller)."""

    batch_key: str
    keys: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class BatchDrop:
    """A complete batch: its OK file and its bunch files in counter order."""

    batch_key: str
    type: str
    identifier: str
    ok_key: str
    ok_etag: str
    ok_last_modified: datetime | None
    bunch_keys: tuple[str, ...]
    bunch_etags: tuple[str, ...]
    total_size: int  # bytes of the bunch files
    bunch_sizes: tuple[int, ...] = ()  # per bunch file, aligned with bunch_keys
    unlisted_keys: tuple[str, ...] = ()  # bunches present but left out by the OK file's listing
    export_folder: str = ""  # export folder drops: the folder's key with a trailing slash
    media: tuple[ObjectInfo, ...] = ()  # export folder drops: the files under `files/`, in key order

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key of the drop: bunch files, media files, then the OK file."""
        return (*self.bunch_keys, *(info.key for info in self.media), self.ok_key)

    @property
    def is_export_folder(self) -> bool:
        """True for an export folder drop."""
        return bool(self.export_folder)

    def relative(self, key: str) -> str:
        """A key of an export folder drop relative to its folder (`files/A1/picture/a.jpg`)."""
        return (
            key[len(self.export_folder) :]
            if self.export_folder and key.startswith(self.export_folder)
            else key
        )


@dataclass(frozen=True)
class DropScan:
    """One scan of the drop prefix: the complete batches, the pending batch keys and the invalid drops."""

    complete: list[BatchDrop]
    pending: list[str]
    invalid: list[InvalidDrop]


def parse_drop_name(key: str, drop_prefix: str) -> DropName | InvalidName | None:
    """Read one key of the drop prefix.

    None for keys that are not ours: outside the prefix, in a sub-folder (e.g. the archive), folder markers
    and dot-files (`.keep`).
    """
    name = _name_in_drop(key, drop_prefix)
    if name is None:
        return None
    if not name.startswith(NAME_PREFIX):
        return InvalidName(key, f"name does not start with {NAME_PREFIX!r}")
    rest = name[len(NAME_PREFIX) :]
    ext = extension_of(rest)
    if ext != OK_EXTENSION and ext not in bunch_extensions():
        return InvalidName(
            key,
            f"extension must be one of the registered bunch formats ({registered_formats()}) "
            f"or .{OK_EXTENSION} for the OK file",
        )
    stem = rest[: -len(ext) - 1]
    counter: int | None = None
    if ext != OK_EXTENSION:
        stem, sep, counter_text = stem.rpartition("_")
        if not sep or not counter_text.isdigit() or not counter_text.isascii():
            return InvalidName(key, "bunch name must end with _<counter> of digits before the extension")
        counter = int(counter_text)
    type_, sep, identifier = stem.partition("_")
    if not sep or not type_ or not identifier:
        return InvalidName(key, "name must be import-<type>_<identifier>[_<counter>].<ext>", batch_key=stem)
    batch_key = f"{type_}_{identifier}"
    if not BATCH_KEY_PATTERN.fullmatch(batch_key):
        return InvalidName(
            key, f"batch key {batch_key[:140]!r} must match [A-Za-z0-9._-]{{1,128}}", batch_key=batch_key
        )
    return DropName(key, "ok" if ext == OK_EXTENSION else "bunch", type_, identifier, counter, ext)


def _name_in_drop(key: str, drop_prefix: str) -> str | None:
    """The file name of a key lying directly in the drop prefix, None for other keys and dot-files."""
    prefix = drop_prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if not key.startswith(prefix):
        return None
    name = key[len(prefix) :]
    if not name or "/" in name or name.startswith("."):
        return None
    return name


def export_folder_member(key: str, drop_prefix: str) -> tuple[str, str] | None:
    """(batch key, path inside the folder) of a key inside an export folder `import-<batch key>/`.

    None for any other key of the drop prefix (dot-files and folder markers included).
    """
    prefix = drop_prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if not key.startswith(prefix + NAME_PREFIX):
        return None
    folder, sep, rest = key[len(prefix) + len(NAME_PREFIX) :].partition("/")
    if not sep or not rest or rest.endswith("/") or key_name(rest).startswith("."):
        return None
    return folder, rest


def _natural(name: str) -> tuple:
    """Sort key putting `export_2.xlsx` before `export_10.xlsx`."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower()))


_Named = tuple[DropName, ObjectInfo]
_Member = tuple[str, ObjectInfo]  # (path inside the export folder, object)


def scan_drop(objects: Iterable[ObjectInfo], drop_prefix: str) -> DropScan:
    """Group a listing of the drop prefix into complete, pending and invalid batches (each list sorted)."""
    oks, bunches, bad, folders = _group_names(objects, drop_prefix)
    invalid = [
        InvalidDrop("", tuple(sorted(n.key for n in names)), "; ".join(sorted({n.reason for n in names})))
        for names in bad.values()
    ]
    complete: list[BatchDrop] = []
    pending: list[str] = []
    for batch_key in sorted(set(oks) | set(bunches) | set(folders)):
        ok_files = oks.get(batch_key, [])
        files = sorted(bunches.get(batch_key, []), key=lambda pair: (pair[0].counter, pair[0].key))
        members = folders.get(batch_key, [])
        if not ok_files:
            pending += [name.key for name, _ in files] + [info.key for _, info in members]
            continue
        batch = (
            _batch_of(batch_key, ok_files, files)
            if not members
            else _export_batch_of(batch_key, ok_files, files, members, drop_prefix)
        )
        if isinstance(batch, BatchDrop):
            complete.append(batch)
        else:
            invalid.append(batch)
    invalid.sort(key=lambda drop: (drop.batch_key, drop.keys))
    return DropScan(complete, sorted(pending), invalid)


def _group_names(
    objects: Iterable[ObjectInfo],
    drop_prefix: str,
) -> tuple[
    dict[str, list[_Named]], dict[str, list[_Named]], dict[str, list[InvalidName]], dict[str, list[_Member]]
]:
    """The keys of the drop prefix sorted into OK files, bunch files, misnamed files and folder members.

    Returns (OK files by batch key, bunch files by batch key, names breaking the convention by batch key or
    key, export folder members by batch key).
    """
    oks: dict[str, list[_Named]] = {}
    bunches: dict[str, list[_Named]] = {}
    bad: dict[str, list[InvalidName]] = {}
    folders: dict[str, list[_Member]] = {}
    for info in objects:
        parsed = parse_drop_name(info.key, drop_prefix)
        if parsed is None:
            member = export_folder_member(info.key, drop_prefix)
            if member is not None:
                folders.setdefault(member[0], []).append((member[1], info))
            continue
        if isinstance(parsed, InvalidName):
            bad.setdefault(parsed.batch_key or parsed.key, []).append(parsed)
        else:
            target = oks if parsed.kind == "ok" else bunches
            target.setdefault(parsed.batch_key, []).append((parsed, info))
    return oks, bunches, bad, folders


def _complete(batch_key: str, ok_file: _Named, files: list[ObjectInfo], **extra: Any) -> BatchDrop:
    """The BatchDrop of an OK file and its data files (in order)."""
    ok_name, ok_info = ok_file
    return BatchDrop(
        batch_key=batch_key,
        type=ok_name.type,
        identifier=ok_name.identifier,
        ok_key=ok_info.key,
        ok_etag=ok_info.etag,
        ok_last_modified=ok_info.last_modified,
        bunch_keys=tuple(info.key for info in files),
        bunch_etags=tuple(info.etag for info in files),
        total_size=sum(info.size for info in files),
        bunch_sizes=tuple(info.size for info in files),
        **extra,
    )


def _batch_of(batch_key: str, ok_files: list[_Named], files: list[_Named]) -> BatchDrop | InvalidDrop:
    """The complete batch of one OK file and its bunch files (in counter order), or why it cannot be one."""
    all_keys = tuple(sorted([n.key for n, _ in ok_files] + [n.key for n, _ in files]))
    if len(ok_files) > 1:
        return InvalidDrop(batch_key, all_keys, "several OK files for one batch")
    if not files:
        return InvalidDrop(batch_key, all_keys, "OK file without any bunch file")
    empty = [name.name for name, info in files if info.size == 0]
    if empty:
        return InvalidDrop(batch_key, all_keys, f"empty bunch file(s): {', '.join(empty)}")
    return _complete(batch_key, ok_files[0], [info for _, info in files])


def _export_batch_of(
    batch_key: str, ok_files: list[_Named], files: list[_Named], members: list[_Member], drop_prefix: str
) -> BatchDrop | InvalidDrop:
    """The complete batch of an export folder and its OK file, or why it cannot be one."""
    all_keys = tuple(
        sorted([n.key for n, _ in ok_files] + [n.key for n, _ in files] + [i.key for _, i in members])
    )
    if not BATCH_KEY_PATTERN.fullmatch(batch_key):
        return InvalidDrop(
            batch_key[:140], all_keys, f"batch key {batch_key[:140]!r} must match [A-Za-z0-9._-]{{1,128}}"
        )
    if len(ok_files) > 1:
        return InvalidDrop(batch_key, all_keys, "several OK files for one batch")
    if files:
        return InvalidDrop(
            batch_key,
            all_keys,
            "bunch files beside an export folder of the same batch: "
            + ", ".join(name.name for name, _ in files),
        )
    data = sorted(
        (
            (path, info)
            for path, info in members
            if "/" not in path and extension_of(path) in EXPORT_FILE_EXTENSIONS
        ),
        key=lambda pair: _natural(pair[0]),
    )
    media = tuple(
        sorted(
            (info for path, info in members if path.startswith(EXPORT_MEDIA_FOLDER)),
            key=lambda info: info.key,
        )
    )
    other = sorted(
        path
        for path, _ in members
        if not path.startswith(EXPORT_MEDIA_FOLDER)
        and ("/" in path or extension_of(path) not in EXPORT_FILE_EXTENSIONS)
    )
    if other:
        return InvalidDrop(
            batch_key,
            all_keys,
            "files an export folder does not hold (only .csv/.xlsx files and "
            f"{EXPORT_MEDIA_FOLDER}): {', '.join(other[:10])}",
        )
    if not data:
        return InvalidDrop(batch_key, all_keys, "export folder without a .csv or .xlsx file")
    empty = [path for path, info in data if info.size == 0]
    if empty:
        return InvalidDrop(batch_key, all_keys, f"empty export file(s): {', '.join(empty)}")
    return _complete(
        batch_key,
        ok_files[0],
        [info for _, info in data],
        export_folder=data[0][1].key[: -len(data[0][0])],
        media=media,
    )


def apply_ok_listing(drop: BatchDrop, ok_text: str) -> BatchDrop | InvalidDrop:
    """Restrict a batch to the bunch files its OK file lists (one name a line; blank lines ignored).

    An empty OK file means every bunch file. A listed file that is missing makes the batch invalid;
    bunch files present but not listed are left out and reported in `unlisted_keys`. Lines may carry a
    full key: only the part after the last `/` counts. For an export folder, a line naming a media file
    (`files/...`) must name one the folder holds.
    """
    listed: list[str] = []
    media_listed: list[str] = []
    for line in ok_text.replace("\ufeff", "").splitlines():
        text = line.strip().lstrip("/")
        if drop.is_export_folder and text.startswith(EXPORT_MEDIA_FOLDER):
            media_listed.append(text)
            continue
        name = key_name(text)
        if name and name not in listed:
            listed.append(name)
    if media_listed:
        present = {drop.relative(info.key) for info in drop.media}
        gone = [path for path in media_listed if path not in present]
        if gone:
            return InvalidDrop(
                drop.batch_key, drop.keys, f"OK file lists missing media file(s): {', '.join(gone[:10])}"
            )
    if not listed:
        return drop
    by_name = {key_name(key): i for i, key in enumerate(drop.bunch_keys)}
    missing = [name for name in listed if name not in by_name]
    if missing:
        return InvalidDrop(
            drop.batch_key, drop.keys, f"OK file lists missing bunch file(s): {', '.join(missing)}"
        )
    chosen = sorted(by_name[name] for name in listed)
    sizes = (
        tuple(drop.bunch_sizes[i] for i in chosen) if len(drop.bunch_sizes) == len(drop.bunch_keys) else ()
    )
    return replace(
        drop,
        bunch_keys=tuple(drop.bunch_keys[i] for i in chosen),
        bunch_etags=tuple(drop.bunch_etags[i] for i in chosen),
        total_size=sum(sizes) if sizes else drop.total_size,
        bunch_sizes=sizes,
        unlisted_keys=tuple(key for i, key in enumerate(drop.bunch_keys) if i not in set(chosen)),
    )


def content_fingerprint(drop: BatchDrop) -> str:
    """12 hex characters over the OK file's ETag and every bunch's name and ETag.

    An empty OK file always has the same ETag, so the OK ETag alone cannot tell two drops of one batch key
    apart: a re-drop with changed bunch files must be a new version and a new run.
    """
    digest = hashlib.sha256(drop.ok_etag.encode())
    for key, etag in zip(drop.bunch_keys, drop.bunch_etags, strict=True):
        digest.update(b"\0" + key_name(key).encode() + b"\0" + etag.encode())
    for info in drop.media:
        digest.update(b"\1" + drop.relative(info.key).encode() + b"\0" + info.etag.encode())
    return digest.hexdigest()[:12]


def archive_version(drop: BatchDrop) -> str:
    """A folder name for this version of the batch that sorts by time: `20261122T153000Z-<fingerprint>`."""
    when = drop.ok_last_modified or _EPOCH
    when = when.astimezone(UTC) if when.tzinfo else when
    return f"{when:%Y%m%dT%H%M%SZ}-{content_fingerprint(drop)}"


def run_key(drop: BatchDrop) -> str:
    """Dagster run key: batch key, OK-file ETag and content fingerprint; a changed drop is a new run."""
    return f"{drop.batch_key}:{drop.ok_etag}:{content_fingerprint(drop)}"
