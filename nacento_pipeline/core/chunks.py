"""Slicing a sequence into chunks: the one helper every set-based step uses.

The steps are SQL IN lists, transactions of SKUs, Redis round trips and LIST ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def chunked(values: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items, in order (nothing for an empty input)."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, not {size}")
    items = values if isinstance(values, list) else list(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]
