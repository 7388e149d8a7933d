"""Retriable-error classification (the connector's "Errors and retries" rule), the backoff schedule and
the one retry loop.

Pure: works on any exception chain by its messages, so database and storage adapters share one rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

# Markers from the connector's rule, plus SQLite's busy/locked messages (the embedded default database) and
# MySQL's 2013 "Lost connection to MySQL server" (the sibling of 2006 "server has gone away") and MariaDB's
# 1927 "Connection was killed" (the writer's session killed mid-statement: its transaction rolled back),
# and the gallery writer's own "writer lock lost" (the chunk rolled back; the lock is taken again).
RETRIABLE_MARKERS = (
    "deadlock",
    "lock wait timeout",
    "server has gone away",
    "connection refused",
    "timed out",
    "timeout",
    "temporarily unavailable",
    "throttling",
    "too many requests",
    "service unavailable",
    "database is locked",
    "database is busy",
    "lost connection",
    "connection was killed",
    "writer lock lost",
)
DEFAULT_ATTEMPTS = 3
DEFAULT_BASE_DELAY_SECONDS = 0.2


def error_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes/contexts and wrapped driver errors (`.orig`), each once."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__, getattr(current, "orig", None)):
            if isinstance(linked, BaseException):
                stack.append(linked)


def is_retriable(exc: BaseException) -> bool:
    """True when any message in the error chain names a transient condition; everything else is permanent."""
    return any(is_retriable_text(f"{type(current).__name__}: {current}") for current in error_chain(exc))


def is_retriable_text(text: str) -> bool:
    """The same rule for an error known only by its text (a failed run's recorded step error)."""
    lowered = text.lower()
    return any(marker in lowered for marker in RETRIABLE_MARKERS)


def run_failure_is_permanent(step_errors: Sequence[str]) -> bool:
    """Whether a failed run must not be run again for the same drop: some step failed (errors as text, causes
    included) and none of them for a transient cause. A run that failed with no step error (its worker was
    killed, the host restarted, monitoring marked it failed) is retriable: running it again can succeed,
    while a parse error of an immutable archived batch, an unknown table or a bad config cannot."""
    return bool(step_errors) and not any(is_retriable_text(error) for error in step_errors)


def backoff_delays(attempts: int = DEFAULT_ATTEMPTS, base: float = DEFAULT_BASE_DELAY_SECONDS) -> list[float]:
    """Sleep before each retry: base, 2*base, 4*base, ... (attempts - 1 delays)."""
    return [base * (2**i) for i in range(max(0, attempts - 1))]


T = TypeVar("T")


def retry_call(
    work: Callable[[], T],
    delays: Sequence[float],
    retriable: Callable[[Exception], bool] = is_retriable,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[int, Exception], None] | None = None,
) -> tuple[T, int]:
    """`work()`, run again after each delay of `delays` while it fails with a retriable error; returns
    (result, retries made). The last failure, or a failure that is not retriable, is raised."""
    for retries, delay in enumerate(delays):
        try:
            return work(), retries
        except Exception as exc:
            if not retriable(exc):
                raise
            if on_retry is not None:
                on_retry(retries + 1, exc)
            (sleep or time.sleep)(delay)
    return work(), len(delays)
