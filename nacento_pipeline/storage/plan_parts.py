"""A long sequence kept on local disk in parts, read back lazily one part at a time.

What a step hands to the next one through Dagster's storage must not be one object of the whole batch: its
pickle holds every row twice while it is written (pickle's memo) and the file stays in Dagster's storage
until the run no longer needs it. A plan's chunks are therefore written here, in parts of a few chunks
(each part one pickle file, written and dropped before the next one), and only a small `StoredParts` handle
(the directory, the file names and one size per item) goes into Dagster's storage. Reading the handle back
costs nothing; iterating it loads one part at a time, so a reader holds one part's frames at most.

Pickle and not Parquet: a part holds a chunk's request and planned delta (frames of object, bool, int and
nullable columns, tuples, series), which must come back exactly as written (dtypes included) for the write
to apply what was planned; one file per part keeps the memory of writing and reading it bounded by the part.

Where and who deletes them: `resources/io_manager.py` (the directory is run-scoped, next to the asset's
stored output, and deleted with it).
"""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar, overload

T = TypeVar("T")

PART_SUFFIX = ".pickle"


@dataclass(frozen=True, eq=False)
class StoredParts(Sequence[T], Generic[T]):
    """The items written by `write_parts`, as a read-only sequence loading one part file at a time.

    The part last read is kept, so consecutive indexing reads each file once. Picklable: the handle only.
    """

    directory: str
    files: tuple[str, ...]  # part file names, in order
    counts: tuple[int, ...]  # items per part
    sizes: tuple[int, ...] = ()  # one figure per item, given by the writer (e.g. a chunk's SKUs)
    _last: list[object] = field(default_factory=list, repr=False, compare=False)

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "_last"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "_last", [])

    def __len__(self) -> int:
        return sum(self.counts)

    def part(self, number: int) -> list[T]:
        """The items of part `number` (read from its file, or the part last read)."""
        if self._last and self._last[0] == number:
            return self._last[1]  # type: ignore[return-value]
        path = Path(self.directory) / self.files[number]
        try:
            with path.open("rb") as file:
                items: list[T] = pickle.load(file)
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"{path}: a stored part of this plan is gone (deleted after its run?); plan the batch again"
            ) from exc
        self._last[:] = [number, items]
        return items

    def __iter__(self) -> Iterator[T]:
        for number in range(len(self.files)):
            yield from self.part(number)
        self._last.clear()

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        for number, count in enumerate(self.counts):
            if position < count:
                return self.part(number)[position]
            position -= count
        raise IndexError(index)  # pragma: no cover - counts sum to len


def write_parts(
    items: Iterable[T], directory: Path, per_part: int, size: Callable[[T], int] | None = None
) -> StoredParts[T]:
    """Write `items` into `directory` in parts of `per_part` items; return the handle to read them back.

    `directory` is created (emptied first); one pickle file per part, holding one part at a time. `size`: a
    figure kept per item in the handle.
    """
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    per = max(1, int(per_part))
    files: list[str] = []
    counts: list[int] = []
    sizes: list[int] = []
    bunch: list[T] = []

    def flush() -> None:
        name = f"part-{len(files):05d}{PART_SUFFIX}"
        with (directory / name).open("wb") as file:
            pickle.dump(bunch, file, protocol=pickle.HIGHEST_PROTOCOL)
        files.append(name)
        counts.append(len(bunch))
        bunch.clear()

    for item in items:
        bunch.append(item)
        if size is not None:
            sizes.append(int(size(item)))
        if len(bunch) >= per:
            flush()
    if bunch:
        flush()
    return StoredParts(str(directory), tuple(files), tuple(counts), tuple(sizes))


def remove_parts(directory: Path) -> bool:
    """Delete a parts directory (and everything under it); whether there was one."""
    if not directory.exists():
        return False
    shutil.rmtree(directory)
    return True
