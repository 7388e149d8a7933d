"""Caps on what one drop may make a worker read.

File sizes are checked from the listing before anything is read: a drop over a cap is refused whole (moved to
the rejected prefix, the reason naming the cap and its setting); invalid names are moved aside a bounded
number per pass, the rest left for the next passes. Field length and the number of image rows are checked
while parsing (core.batch.parse): a file breaking them is unreadable, the run fails naming file, line, field
and cap. The defaults fit a 2 GB worker: parsing takes about 3.5 times a file's size in memory, the batch's
frames about 1 KB per image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nacento_pipeline.core.drop.dropzone import BatchDrop, InvalidDrop
from nacento_pipeline.core.objects import key_name

MIB = 1024 * 1024


@dataclass(frozen=True)
class InputLimits:
    """The caps, each named by the setting that changes it (sizes in bytes, counts in items)."""

    bunch_file_bytes: int = 256 * MIB  # NACENTO_MAX_BUNCH_FILE_MB
    ok_file_bytes: int = MIB  # NACENTO_MAX_OK_FILE_KB
    invalid_names_per_pass: int = 200  # NACENTO_MAX_INVALID_NAMES_PER_TICK
    field_chars: int = 64 * 1024  # NACENTO_MAX_FIELD_CHARS: one cell / JSON value of an image row
    batch_images: int = 1_000_000  # NACENTO_MAX_BATCH_IMAGES: image rows of one batch, all files together


def _shown(size: int) -> str:
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"


def ok_file_over_limit(drop: BatchDrop, ok_size: int, limits: InputLimits) -> InvalidDrop | None:
    """The drop refused when its OK file is larger than the cap (it would be read whole)."""
    if ok_size <= limits.ok_file_bytes:
        return None
    return InvalidDrop(
        batch_key=drop.batch_key,
        keys=drop.keys,
        reason=(
            f"OK file {key_name(drop.ok_key)} is {_shown(ok_size)}, over the OK file size limit of "
            f"{limits.ok_file_bytes // 1024} KiB (NACENTO_MAX_OK_FILE_KB); nothing was read"
        ),
    )


def bunch_files_over_limit(drop: BatchDrop, limits: InputLimits) -> InvalidDrop | None:
    """The drop refused when one of its bunch files is larger than the cap, naming every such file."""
    if len(drop.bunch_sizes) != len(drop.bunch_keys):
        return None
    big = [
        (key, size)
        for key, size in zip(drop.bunch_keys, drop.bunch_sizes, strict=True)
        if size > limits.bunch_file_bytes
    ]
    if not big:
        return None
    names = ", ".join(f"{key_name(key)} ({_shown(size)})" for key, size in big)
    return InvalidDrop(
        batch_key=drop.batch_key,
        keys=drop.keys,
        reason=(
            f"bunch file(s) over the bunch file size limit of {limits.bunch_file_bytes // MIB} MiB "
            f"(NACENTO_MAX_BUNCH_FILE_MB): {names}; split the batch into more bunch files; nothing was read"
        ),
    )


def first_invalid(invalid: list[InvalidDrop], limit: int) -> tuple[list[InvalidDrop], int]:
    """At most `limit` keys of the invalid drops, and how many keys are left for the next passes.

    The drops are taken in order, the last one cut if need be.
    """
    taken: list[InvalidDrop] = []
    room = max(0, limit)
    left = 0
    for drop in invalid:
        if room >= len(drop.keys):
            taken.append(drop)
            room -= len(drop.keys)
            continue
        if room:
            taken.append(replace(drop, keys=drop.keys[:room]))
        left += len(drop.keys) - room
        room = 0
    return taken, left
