"""What every cache backend offers (clean product tags, clean image entries), what it reports, and retries."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from nacento_pipeline.core.retry import TransientError, backoff_delays, retry_call


class CacheError(RuntimeError):
    """Cache invalidation failed for good (bad configuration, refused request)."""


class TransientCacheError(CacheError, TransientError):
    """A failure worth retrying: connection refused or reset, timeout, HTTP 5xx, Redis connection error."""


@dataclass(frozen=True)
class CacheReport:
    """What one cleaning did: requests sent, to which targets, how many tags and entries."""

    backend: str
    action: str  # "tags" | "images"
    tags: int = 0  # tags (or image paths) asked for
    requests: int = 0  # purge requests, Redis round trips or commands run
    targets: tuple[str, ...] = ()  # hosts, redis URLs (without password) or commands
    entries_removed: int = -1  # cache entries removed, -1 when the backend cannot tell (Varnish bans)
    attempts: int = 1
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """One line for logs and metadata: backend, what was cleaned, requests, targets, entries removed."""
        removed = "" if self.entries_removed < 0 else f", {self.entries_removed} entries removed"
        where = f" on {', '.join(self.targets)}" if self.targets else ""
        return f"{self.backend}: {self.tags} {self.action} in {self.requests} request(s){where}{removed}"


class CacheBackend(Protocol):
    """A place Magento keeps pages or image facts in. Both calls are idempotent."""

    name: str

    def clean_tags(self, tags: Sequence[str]) -> CacheReport:
        """Remove every page tagged with one of `tags` (`cat_p_<id>`)."""
        ...

    def clean_images(self, values: Sequence[str]) -> CacheReport:
        """Remove Magento's cached facts about these gallery values and their resized copies."""
        ...


T = TypeVar("T")


def with_retries(
    call: Callable[[], T],
    attempts: int = 3,
    backoff_seconds: float = 0.5,
    on_retry: Callable[[int, Exception], None] | None = None,
) -> tuple[T, int]:
    """`call()` retried on TransientCacheError (exponential backoff); returns (result, attempts used)."""
    result, retries = retry_call(
        call,
        backoff_delays(attempts, backoff_seconds),
        lambda exc: isinstance(exc, TransientCacheError),
        on_retry=on_retry,
    )
    return result, retries + 1
