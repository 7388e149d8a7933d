"""`none`: no cache invalidation; pages refresh when they expire (or when Magento itself cleans them)."""

from __future__ import annotations

from collections.abc import Sequence

from nacento_pipeline.cache.base import CacheReport


class NoCache:
    """The backend that cleans nothing and says so in its report."""

    name = "none"

    def clean_tags(self, tags: Sequence[str]) -> CacheReport:
        """A report of no request, noting that pages show the change when they expire."""
        return CacheReport(
            self.name,
            "tags",
            tags=len(tags),
            requests=0,
            entries_removed=0,
            notes=("backend none: nothing cleaned, pages show the change when they expire",),
        )

    def clean_images(self, values: Sequence[str]) -> CacheReport:
        """A report of no request."""
        return CacheReport(self.name, "images", tags=len(values), requests=0, entries_removed=0)
