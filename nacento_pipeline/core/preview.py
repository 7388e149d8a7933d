"""A preview a person can decide from: what a planned batch does to the first products it changes.

Image by image before -> after, their role changes, and the totals per kind of change with a bar chart. Pure
text and frames; the galleries now (`current`, core.blast_radius.CURRENT_COLUMNS) and the delta's frames in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from nacento_pipeline.core.markdown import markdown_cell

# How a person names what the write does to an image (the delta's action -> the word shown in the UI).
CHANGE_WORDS = {
    "inserted": "added",
    "updated_value": "updated (content)",
    "updated_meta": "updated (label/position/roles)",
    "purged": "purged (not in the batch)",
    "deduped": "removed (duplicate path)",
}
REMOVED = ("purged", "deduped")
PREVIEW_PRODUCTS = 10
BAR_WIDTH = 30
CHANGE_SHOWN = ["sku", "image", "change", "before", "after"]
ROLE_SHOWN = ["sku", "role", "store_id", "before", "after"]


def _state(position: object, label: object, disabled: object) -> str:
    parts = [f"pos {int(float(str(position)))}" if pd.notna(position) and str(position) != "" else "pos -"]
    if isinstance(label, str) and label:
        parts.append(f"'{label}'")
    if pd.notna(disabled) and bool(disabled):
        parts.append("disabled")
    return ", ".join(parts)


def changed_skus(items: pd.DataFrame, roles: pd.DataFrame, limit: int = PREVIEW_PRODUCTS) -> list[str]:
    """The first `limit` SKUs (sorted) whose images or roles the plan changes."""
    changing = items.loc[items["action"].isin(list(CHANGE_WORDS)), "sku"].astype(str)
    skus = set(changing) | set(roles["sku"].astype(str))
    return sorted(skus)[:limit]


def image_changes(items: pd.DataFrame, current: pd.DataFrame, skus: list[str]) -> pd.DataFrame:
    """One row per changed image of these SKUs, in SKU and path order.

    Columns: sku, image, change, before and after (position, label, disabled).
    """
    mine = items[items["sku"].astype(str).isin(skus) & items["action"].isin(list(CHANGE_WORDS))]
    if mine.empty:
        return pd.DataFrame(columns=CHANGE_SHOWN)
    now = current.astype({"entity_id": "int64", "value_id": "int64"}).drop_duplicates(
        ["entity_id", "value_id"]
    )
    merged = mine.assign(
        entity_id=mine["entity_id"].astype("int64"), value_id=mine["value_id"].astype("int64")
    ).merge(
        now[["entity_id", "value_id", "label", "position", "disabled"]].rename(
            columns={"label": "_label", "position": "_position", "disabled": "_disabled"}
        ),
        on=["entity_id", "value_id"],
        how="left",
    )
    known = merged["_position"].notna() | merged["_label"].notna()
    before = [
        _state(p, lab, d) if k else "-"
        for p, lab, d, k in zip(
            merged["_position"], merged["_label"], merged["_disabled"], known, strict=True
        )
    ]
    after = [
        "-" if a in REMOVED else _state(p, lab, d)
        for a, p, lab, d in zip(
            merged["action"], merged["position"], merged["label"], merged["disabled"], strict=True
        )
    ]
    out = pd.DataFrame(
        {
            "sku": merged["sku"].astype(str),
            "image": merged["value"].astype(str),
            "change": merged["action"].map(CHANGE_WORDS),
            "before": before,
            "after": after,
        }
    )
    return out.sort_values(["sku", "image"], kind="stable").reset_index(drop=True)


def role_changes(roles: pd.DataFrame, skus: list[str]) -> pd.DataFrame:
    """The role and label values the plan changes for these SKUs: sku, role, store_id, before, after."""
    mine = roles[roles["sku"].astype(str).isin(skus)]
    out = pd.DataFrame(
        {
            "sku": mine["sku"].astype(str),
            "role": mine["role"].astype(str),
            "store_id": mine["store_id"].astype("int64"),
            "before": mine["old_value"].astype(object).fillna("").replace("", "-"),
            "after": mine["new_value"].astype(object).fillna("(deleted)"),
        },
        columns=ROLE_SHOWN,
    )
    return out.sort_values(["sku", "store_id", "role"], kind="stable").reset_index(drop=True)


def change_counts(items: pd.DataFrame, roles: pd.DataFrame) -> dict[str, int]:
    """Images per kind of change (in CHANGE_WORDS' words) and role values changed, zero kinds left out."""
    counts = items["action"].value_counts()
    out = {word: int(counts.get(action, 0)) for action, word in CHANGE_WORDS.items() if counts.get(action, 0)}
    if len(roles):
        out["role values changed"] = len(roles)
    return out


def bar_chart(counts: Mapping[str, int], width: int = BAR_WIDTH) -> str:
    """Counts as a markdown table with a bar of block characters each (the longest `width` long)."""
    if not counts:
        return "_no change_"
    top = max(counts.values()) or 1
    lines = ["| change | count | |", "|---|---:|---|"]
    for kind, n in counts.items():
        bar = "\u2588" * max(1 if n else 0, round(n / top * width))
        lines.append(f"| {markdown_cell(kind)} | {n:,} | {bar} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Preview:
    """The preview of a plan: the first products' image and role changes, and the totals per kind."""

    images: pd.DataFrame  # CHANGE_SHOWN
    roles: pd.DataFrame  # ROLE_SHOWN
    counts: dict[str, int]

    def chart(self) -> str:
        """The totals per kind of change as a markdown bar chart."""
        return bar_chart(self.counts)


def preview(
    items: pd.DataFrame, roles: pd.DataFrame, current: pd.DataFrame, limit: int = PREVIEW_PRODUCTS
) -> Preview:
    """The preview of a plan's delta frames against the galleries now (of at least the previewed products)."""
    skus = changed_skus(items, roles, limit)
    return Preview(
        image_changes(items, current, skus), role_changes(roles, skus), change_counts(items, roles)
    )


def merge_previews(parts: list[Preview], limit: int = PREVIEW_PRODUCTS) -> Preview:
    """The preview of a plan out of its parts' previews.

    The parts share no SKU and were made with the same `limit`: the first `limit` SKUs of them all, their
    rows in the same order, the counts summed.
    """
    if len(parts) == 1:
        return parts[0]
    skus = sorted({str(s) for p in parts for frame in (p.images, p.roles) for s in frame["sku"]})[:limit]

    def rows(frames: list[pd.DataFrame], columns: list[str], order: list[str]) -> pd.DataFrame:
        shown = [f[f["sku"].isin(skus)] for f in frames]
        shown = [f for f in shown if len(f)]
        if not shown:
            return frames[0].iloc[0:0] if frames else pd.DataFrame(columns=columns)
        joined = pd.concat(shown, ignore_index=True)
        return joined.sort_values(order, kind="stable").reset_index(drop=True)

    totals: dict[str, int] = {}
    for p in parts:
        for kind, n in p.counts.items():
            totals[kind] = totals.get(kind, 0) + n
    words = [*CHANGE_WORDS.values(), "role values changed"]
    return Preview(
        rows([p.images for p in parts], CHANGE_SHOWN, ["sku", "image"]),
        rows([p.roles for p in parts], ROLE_SHOWN, ["sku", "store_id", "role"]),
        {word: totals[word] for word in words if totals.get(word)},
    )
