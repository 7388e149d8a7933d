"""Turning frames and counters into metadata a person reads in the Dagster UI."""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pandas as pd

from nacento_pipeline.core.markdown import MAX_TABLE_ROWS, counts_markdown, markdown_table
from nacento_pipeline.core.preview import CHANGE_WORDS, PREVIEW_PRODUCTS, Preview
from nacento_pipeline.defs.constants import BATCH_GROUP, OWNERS
from nacento_pipeline.defs.partitions import pim_batches

# What every batch asset shares: one partition per PIM batch, one group in the UI, one owner.
BATCH_ASSET: dict[str, Any] = {"partitions_def": pim_batches, "group_name": BATCH_GROUP, "owners": OWNERS}


def md_table(
    frame: pd.DataFrame,
    columns: list[str] | None = None,
    limit: int = MAX_TABLE_ROWS,
    total: int | None = None,
) -> dg.MetadataValue:
    """The first `limit` rows of a frame as a markdown table, with a note of how many were left out.

    `total`: the rows the frame's are the first of (core.markdown.markdown_table).
    """
    return dg.MetadataValue.md(markdown_table(frame, columns, limit, total=total))


CHANGED_SHOWN = ["change", "sku", "value", "reason"]


def changed_images(items: pd.DataFrame) -> pd.DataFrame:
    """The images the write changed, one row each with `change` in the words of CHANGE_WORDS."""
    changed = items[items["action"].isin(list(CHANGE_WORDS))]
    return changed.assign(change=changed["action"].map(CHANGE_WORDS)).sort_values(
        ["sku", "value"], kind="stable"
    )


def counts_table(counts: Mapping[str, int], title: str = "kind") -> dg.MetadataValue:
    """Counts by kind as a Markdown table."""
    return dg.MetadataValue.md(counts_markdown(counts, title))


def int_metadata(counts: Mapping[str, int]) -> dict[str, dg.MetadataValue]:
    """Counts as integer metadata, one entry each."""
    return {key: dg.MetadataValue.int(int(value)) for key, value in counts.items()}


@contextmanager
def phase(durations: dict[str, float], name: str) -> Iterator[None]:
    """Record how long a phase of an asset took (reported as duration_<name>_s)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        durations[name] = round(time.perf_counter() - start, 3)


def duration_metadata(durations: Mapping[str, float]) -> dict[str, dg.MetadataValue]:
    """Phase durations as `duration_<phase>_s` float metadata."""
    return {f"duration_{name}_s": dg.MetadataValue.float(value) for name, value in durations.items()}


def preview_metadata(preview: Preview) -> dict[str, dg.MetadataValue]:
    """A plan's preview: the first products' images and roles before -> after, changes per kind charted."""
    return {
        f"preview_images (first {PREVIEW_PRODUCTS} products)": md_table(preview.images, limit=100),
        f"preview_roles (first {PREVIEW_PRODUCTS} products)": md_table(preview.roles, limit=100),
        "changes_by_kind": dg.MetadataValue.md(preview.chart()),
    }
