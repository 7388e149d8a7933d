"""The cache step after a gallery write: the backend cleans Magento's tags of the changed products.

Parents are looked up, the tags built, the backend asked to clean them (and the image facts of changed
files), transient errors retried. Never raises for a cache failure: the write is committed already; the
failure is reported (and the storefront_fresh check fails).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

import sqlalchemy as sa

from nacento_pipeline.cache.base import CacheBackend, CacheError, CacheReport, with_retries
from nacento_pipeline.core.cache_tags import product_tags
from nacento_pipeline.magento.product_relations import read_parents


@dataclass(frozen=True)
class StorefrontInvalidation:
    """What the cache step did for one batch; `ok` False when a cleaning failed after its retries."""

    backend: str
    changed_ids: tuple[int, ...]
    parent_ids: tuple[int, ...]
    tags: tuple[str, ...]
    image_values: tuple[str, ...]
    reports: tuple[CacheReport, ...] = ()
    errors: tuple[str, ...] = ()
    seconds: float = 0.0
    retries: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no cleaning failed."""
        return not self.errors

    @property
    def requests(self) -> int:
        """Requests sent over all reports."""
        return sum(r.requests for r in self.reports)

    @property
    def entries_removed(self) -> int:
        """Entries removed over the reports that can tell, -1 when none can."""
        known = [r.entries_removed for r in self.reports if r.entries_removed >= 0]
        return sum(known) if known else -1

    @property
    def targets(self) -> tuple[str, ...]:
        """The reports' targets, each once, in order."""
        return tuple(dict.fromkeys(t for r in self.reports for t in r.targets))


def invalidate_storefront(
    engine: sa.Engine,
    backend: CacheBackend,
    changed_ids: Iterable[int],
    image_values: Iterable[str] = (),
    *,
    prefix: str = "",
    attempts: int = 3,
    backoff_seconds: float = 0.5,
    log: Callable[[str], None] = lambda _msg: None,
) -> StorefrontInvalidation:
    """Clean `cat_p_<id>` of the changed products and their parents, then Magento's facts about images.

    The image facts are cleaned when `image_values` is given (content changed under the same path, resized
    copies purged).
    """
    start = time.perf_counter()
    ids = sorted({int(i) for i in changed_ids if int(i) > 0})
    parents = read_parents(engine, ids, prefix) if ids else {}
    tags = product_tags(ids, parents)
    parent_ids = sorted({p for ps in parents.values() for p in ps} - set(ids))
    values = sorted(set(image_values))
    reports: list[CacheReport] = []
    errors: list[str] = []
    retries = 0

    def on_retry(attempt: int, exc: Exception) -> None:
        nonlocal retries
        retries += 1
        log(f"cache {backend.name}: attempt {attempt} failed ({exc}); retrying")

    for what, items, call in (("tags", tags, backend.clean_tags), ("images", values, backend.clean_images)):
        if not items:
            continue
        try:
            report, used = with_retries(partial(call, items), attempts, backoff_seconds, on_retry)
            reports.append(CacheReport(**{**report.__dict__, "attempts": used}))
        except CacheError as exc:
            errors.append(f"{what}: {exc}")
            log(f"cache {backend.name}: cleaning {what} failed: {exc}")
    return StorefrontInvalidation(
        backend=backend.name,
        changed_ids=tuple(ids),
        parent_ids=tuple(parent_ids),
        tags=tuple(tags),
        image_values=tuple(values),
        reports=tuple(reports),
        errors=tuple(errors),
        seconds=round(time.perf_counter() - start, 3),
        retries=retries,
        notes=tuple(n for r in reports for n in r.notes),
    )
