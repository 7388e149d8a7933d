"""Reindex decision per indexer: a chain of purposes -> full/partial/none.

The purposes are not-installed, no-change, on-save, reindex-required, queued-by-triggers, threshold, then a
partial fallback.

Pure: the indexer facts come in as `IndexerState` values read by `magento.indexers`; triggers live in
`magento.reindex_trigger`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from nacento_pipeline.core.markdown import markdown_table

DECISIONS = ("full", "partial", "none")

# Indexers whose index holds gallery data (roles and gallery values copied into catalog_product_flat_<store>):
# only these need a full rebuild when they are Update on Save, since a direct write fires no save event.
# catalogrule_product subscribes to the gallery tables (rule conditions may use any attribute) but its index
# holds rule/product matches, not images; the attribute and search indexes hold no image data at all.
GALLERY_INDEXERS = frozenset({"catalog_product_flat"})

# --- Reindex decision rows: one per indexer considered (output of decision_rows) --------------------------
# indexer         indexer id (indexer_state.indexer_id)
# view_id         mview view id whose changelog carries the ids
# decision        "full" | "partial" | "none"
# purpose         name of the purpose that decided ("on-save", "reindex-required", "threshold", ...)
# reason          human-readable sentence with the compared numbers
# changed         distinct entity ids this batch changed
# backlog         distinct entity ids in the changelog above mview_state.version_id
# delta           |changed ∪ backlog|
# threshold       absolute threshold compared with delta (a fraction setting is already multiplied out)
# threshold_setting  configured value (< 1 fraction of the catalog, >= 1 absolute count)
# catalog_size    catalog_product_entity row count
# status          indexer_state.status ("" when not installed)
# mview_mode      mview_state.mode ("" when the view has no row)
# mview_status    mview_state.status ("" when the view has no row)
# held            True when Magento is busy with this indexer: triggers only append changelog ids
# entity_ids      ids this batch changed (what a partial reindex covers; informational for full; empty for
#                 none)
# notes           extra remarks joined by "; "
REINDEX_DECISION_COLUMNS = (
    "indexer",
    "view_id",
    "decision",
    "purpose",
    "reason",
    "changed",
    "backlog",
    "delta",
    "threshold",
    "threshold_setting",
    "catalog_size",
    "status",
    "mview_mode",
    "mview_status",
    "held",
    "entity_ids",
    "notes",
)


@dataclass(frozen=True)
class IndexerState:
    """What Magento's tables say about one indexer and its mview view."""

    indexer_id: str
    view_id: str
    installed: bool = True  # a row exists in indexer_state
    status: str = "valid"  # indexer_state.status: valid | invalid | working
    mview_mode: str = "enabled"  # mview_state.mode: enabled (Update by Schedule) | disabled (Update on Save)
    mview_status: str = "idle"  # mview_state.status: idle | working | suspended
    version_id: int = 0  # mview_state.version_id: changelog rows above it are not applied yet
    changelog_exists: bool = True
    backlog_ids: frozenset[int] = frozenset()

    @property
    def scheduled(self) -> bool:
        """Update by Schedule: Magento's cron applies the changelog. No mview row means Update on Save."""
        return self.mview_mode == "enabled"

    @property
    def held(self) -> bool:
        """Magento is rebuilding the indexer or has suspended its view: do not fight its cron."""
        return self.status == "working" or self.mview_status == "suspended"


@dataclass(frozen=True)
class PurposeInput:
    """The facts one purpose looks at for one indexer."""

    state: IndexerState
    changed_ids: frozenset[int]
    delta_ids: frozenset[int]  # changed ∪ backlog
    threshold: float  # absolute
    threshold_setting: float
    catalog_size: int


@dataclass(frozen=True)
class Verdict:
    """What one purpose decided, and why."""

    decision: str  # one of DECISIONS
    reason: str


class Purpose(Protocol):
    """One link of the chain: returns a verdict, or None to let the next purpose decide."""

    name: str

    def __call__(self, facts: PurposeInput) -> Verdict | None:
        """The verdict for these facts, or None to let the next purpose decide."""
        ...


@dataclass(frozen=True)
class ReindexDecision:
    """The decision for one indexer, the purpose that made it and the numbers it compared."""

    indexer_id: str
    view_id: str
    decision: str
    purpose: str
    reason: str
    changed: int
    backlog: int
    delta: int
    threshold: float
    threshold_setting: float
    catalog_size: int
    state: IndexerState
    # ids this batch changed, sorted: what a partial reindex covers; for full informational (and what goes
    # to the changelog while Magento is busy with the indexer); empty for none
    entity_ids: tuple[int, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def held(self) -> bool:
        """True when there is something to do but Magento is busy with the indexer (changelog only)."""
        return self.decision != "none" and self.state.held


# --- Purposes ---------------------------------------------------------------------------------------------


class NotInstalled:
    """Indexer without an indexer_state row: nothing to do, but say so."""

    name = "not-installed"

    def __call__(self, facts: PurposeInput) -> Verdict | None:
        """`none` for an indexer without an indexer_state row, else None."""
        if facts.state.installed:
            return None
        return Verdict("none", f"indexer {facts.state.indexer_id} is not in indexer_state")


class NoChange:
    """The batch changed no product: Magento's own cron handles whatever backlog there is."""

    name = "no-change"

    def __call__(self, facts: PurposeInput) -> Verdict | None:
        """`none` when the batch changed no product, else None."""
        if facts.changed_ids:
            return None
        return Verdict(
            "none", f"batch changed no product (backlog {len(facts.delta_ids)} left to Magento's cron)"
        )


class OnSave:
    """Update on Save: only a full reindex refreshes an index holding gallery data (GALLERY_INDEXERS).

    Direct database writes fire no save events; any other on-save index has nothing of the batch in it.
    """

    name = "on-save"

    def __call__(self, facts: PurposeInput) -> Verdict | None:
        """For an Update on Save indexer `full` when its index holds gallery data, else `none`; else None."""
        if facts.state.scheduled:
            return None
        mode = facts.state.mview_mode or "no mview_state row"
        if facts.state.indexer_id not in GALLERY_INDEXERS:
            return Verdict(
                "none",
                f"Update on Save (mview mode {mode}) but its index holds no gallery data: "
                "nothing to rebuild for an image batch",
            )
        return Verdict(
            "full",
            f"Update on Save (mview mode {mode}) and its index holds gallery data: "
            "a direct write fires no save event",
        )


class QueuedByTriggers:
    """Update by Schedule and Magento's own triggers already put every changed id in the changelog.

    Its cron applies them in chunks of 1,000 (Magento's mview never escalates to a full reindex), nothing to
    add.
    """

    name = "queued-by-triggers"

    def __call__(self, facts: PurposeInput) -> Verdict | None:
        """`partial` (nothing added) when scheduled and the changelog holds every changed id, else None."""
        state = facts.state
        if not state.scheduled or not facts.changed_ids or not facts.changed_ids <= state.backlog_ids:
            return None
        return Verdict(
            "partial",
            f"Magento's triggers already queued all {len(facts.changed_ids)} changed ids "
            f"in {state.view_id}_cl; its cron applies them (nothing added)",
        )


class ReindexRequired:
    """Magento already marked the indexer invalid: it needs a full rebuild anyway."""

    name = "reindex-required"

    def __call__(self, facts: PurposeInput) -> Verdict | None:
        """`full` when indexer_state.status is invalid, else None."""
        if facts.state.status != "invalid":
            return None
        return Verdict("full", "indexer_state.status is invalid")


class Threshold:
    """Full when the delta (changed ∪ backlog) is greater than the threshold, partial otherwise."""

    name = "threshold"

    def __call__(self, facts: PurposeInput) -> Verdict | None:
        """`full` when the delta is greater than the threshold, else `partial`."""
        delta = len(facts.delta_ids)
        limit = _format_number(facts.threshold)
        if delta > facts.threshold:
            return Verdict("full", f"delta {delta} > threshold {limit}")
        return Verdict("partial", f"delta {delta} <= threshold {limit}")


class Fallback:
    """End of a custom chain that decided nothing: partial, the cheapest safe choice."""

    name = "fallback"

    def __call__(self, facts: PurposeInput) -> Verdict:
        """Always `partial`."""
        return Verdict("partial", "no purpose decided")


PURPOSES: dict[str, Callable[[], Purpose]] = {
    "not-installed": NotInstalled,
    "no-change": NoChange,
    "on-save": OnSave,
    "reindex-required": ReindexRequired,
    "queued-by-triggers": QueuedByTriggers,
    "threshold": Threshold,
    "fallback": Fallback,
}
# Magento indexer ids are letters, digits and underscores; a little more is allowed (dots, dashes), never
# a shell metacharacter (ids end up in commands and SQL names; quoting alone is undone by a template that puts
# a placeholder inside double quotes).
SAFE_INDEXER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

DEFAULT_PURPOSE_NAMES = (
    "not-installed",
    "no-change",
    "on-save",
    "reindex-required",
    "queued-by-triggers",
    "threshold",
)
DEFAULT_PURPOSES: tuple[Purpose, ...] = tuple(PURPOSES[name]() for name in DEFAULT_PURPOSE_NAMES)


class UnknownPurposeError(ValueError):
    """A configured purpose name is not registered in PURPOSES."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown reindex purpose {name!r}; known: {', '.join(PURPOSES)}")
        self.name = name


def build_purposes(names: Iterable[str]) -> tuple[Purpose, ...]:
    """A purpose chain from registered names, e.g. from configuration."""
    chain = []
    for name in names:
        if name not in PURPOSES:
            raise UnknownPurposeError(name)
        chain.append(PURPOSES[name]())
    return tuple(chain)


# --- Decision ---------------------------------------------------------------------------------------------

ThresholdSource = Callable[[str], float] | Mapping[str, float] | float


def absolute_threshold(setting: float, catalog_size: int) -> float:
    """Values below 1 are a fraction of the catalog, values from 1 an absolute count of entities."""
    if setting >= 1:
        return float(setting)
    # rounding keeps 0.29 * 100 at 29 rather than 28.999999999999996
    return round(setting * max(catalog_size, 0), 9)


def _threshold_setting(source: ThresholdSource, indexer_id: str, default: float) -> float:
    if callable(source):
        return float(source(indexer_id))
    if isinstance(source, Mapping):
        return float(source.get(indexer_id, default))
    return float(source)


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _notes(state: IndexerState, decision: str) -> tuple[str, ...]:
    if decision == "none":
        return ()
    notes = []
    if state.status == "working" and not state.scheduled:
        notes.append(
            "Magento is rebuilding this indexer (status working) and it is Update on Save: Magento "
            "does not apply its changelog, so the rebuild may miss this batch; reindex again after it"
        )
    elif state.status == "working":
        notes.append(
            "Magento is rebuilding this indexer (status working): ids go to the changelog, "
            "indexer state left alone"
        )
    if state.mview_status == "suspended":
        notes.append("view is suspended: ids go to the changelog and apply when Magento resumes it")
    elif state.mview_status == "working":
        notes.append("Magento's cron is applying the changelog right now")
    if state.scheduled and not state.changelog_exists:
        notes.append(f"changelog table {state.view_id}_cl is missing")
    return tuple(notes)


def decide_reindex(
    changed_entity_ids: Iterable[int],
    states: Sequence[IndexerState],
    catalog_size: int,
    thresholds: ThresholdSource = 0.2,
    purposes: Sequence[Purpose] = DEFAULT_PURPOSES,
    default_threshold: float = 0.2,
) -> list[ReindexDecision]:
    """One decision per indexer state, in the given order; the first purpose with a verdict wins.

    `thresholds` is `Settings.threshold_for`, a mapping indexer -> setting (missing -> default_threshold),
    or one number for all indexers.
    """
    changed = frozenset(int(i) for i in changed_entity_ids)
    decisions = []
    for state in states:
        setting = _threshold_setting(thresholds, state.indexer_id, default_threshold)
        delta_ids = changed | state.backlog_ids
        facts = PurposeInput(
            state=state,
            changed_ids=changed,
            delta_ids=delta_ids,
            threshold=absolute_threshold(setting, catalog_size),
            threshold_setting=setting,
            catalog_size=catalog_size,
        )
        purpose_name, found = "fallback", None
        for purpose in purposes:
            found = purpose(facts)
            if found is not None:
                purpose_name = purpose.name
                break
        verdict = found if found is not None else Fallback()(facts)
        decisions.append(
            ReindexDecision(
                indexer_id=state.indexer_id,
                view_id=state.view_id,
                decision=verdict.decision,
                purpose=purpose_name,
                reason=verdict.reason,
                changed=len(changed),
                backlog=len(state.backlog_ids),
                delta=len(delta_ids),
                threshold=facts.threshold,
                threshold_setting=setting,
                catalog_size=catalog_size,
                state=state,
                entity_ids=tuple(sorted(changed)) if verdict.decision != "none" else (),
                notes=_notes(state, verdict.decision),
            )
        )
    return decisions


# --- Reporting --------------------------------------------------------------------------------------------


def _ids_preview(ids: Sequence[int], limit: int = 20) -> str:
    shown = ",".join(str(i) for i in ids[:limit])
    return f"{shown},… (+{len(ids) - limit})" if len(ids) > limit else shown


def decision_rows(decisions: Sequence[ReindexDecision], ids_limit: int = 20) -> list[dict[str, object]]:
    """One flat dict per decision with REINDEX_DECISION_COLUMNS (entity ids shortened for display)."""
    return [
        {
            "indexer": d.indexer_id,
            "view_id": d.view_id,
            "decision": d.decision,
            "purpose": d.purpose,
            "reason": d.reason,
            "changed": d.changed,
            "backlog": d.backlog,
            "delta": d.delta,
            "threshold": d.threshold,
            "threshold_setting": d.threshold_setting,
            "catalog_size": d.catalog_size,
            "status": d.state.status,
            "mview_mode": d.state.mview_mode,
            "mview_status": d.state.mview_status,
            "held": d.held,
            "entity_ids": _ids_preview(d.entity_ids, ids_limit),
            "notes": "; ".join(d.notes),
        }
        for d in decisions
    ]


MARKDOWN_COLUMNS = (
    "indexer",
    "decision",
    "purpose",
    "reason",
    "changed",
    "backlog",
    "delta",
    "threshold",
    "held",
    "notes",
)


def decisions_markdown(decisions: Sequence[ReindexDecision]) -> str:
    """A markdown table of the decisions, for Dagster metadata."""
    rows = decision_rows(decisions)
    for row in rows:
        row["threshold"] = _format_number(float(row["threshold"]))  # type: ignore[arg-type]
    frame = pd.DataFrame(rows, columns=list(REINDEX_DECISION_COLUMNS))
    return markdown_table(
        frame, MARKDOWN_COLUMNS, limit=None, empty="_no indexer considered_", max_cell=10_000
    )
