"""Carry out reindex decisions: `changelog` (database only), `command` (bin/magento, local or ssh), `dry-run`.

All triggers share one surface, `apply(decisions, log) -> TriggerReport`; `trigger_for` picks one by name.
`route` sorts the decisions once (nothing to do / held / partial / full); each trigger then handles the
groups its own way. Indexers Magento is busy with (indexer 'working', view 'suspended') are held: they only
get their ids appended to the changelog, so the pipeline never fights Magento's own cron. Running a command
(templates, process groups, timeouts) is `reindex_command`'s plumbing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.core.markdown import markdown_table
from nacento_pipeline.core.reindex.decision import ReindexDecision
from nacento_pipeline.magento.indexers import (
    CHANGELOG_CHUNK,
    append_to_changelog,
    changelog_name,
    invalidate_indexers,
)
from nacento_pipeline.magento.reindex_command import (
    LogFn,
    ReindexTriggerError,
    render_command,
    run_command,
    safe_indexer,
)


@dataclass(frozen=True)
class TriggerOutcome:
    """What a trigger did for one indexer."""

    indexer_id: str
    decision: str
    action: str  # none | changelog | invalidated | command | dry-run | skipped
    changelog_inserted: int = 0
    changelog_present: int = 0
    detail: str = ""


@dataclass(frozen=True)
class CommandRun:
    """One execution of the reindex command."""

    command: str
    indexers: tuple[str, ...]
    returncode: int
    seconds: float
    output_lines: int


REPORT_COLUMNS = ("indexer", "decision", "action", "changelog +rows", "detail")


@dataclass
class TriggerReport:
    """Outcome per indexer plus the commands run, for Dagster metadata."""

    trigger: str
    outcomes: list[TriggerOutcome] = field(default_factory=list)
    commands: list[CommandRun] = field(default_factory=list)

    @property
    def changelog_inserted(self) -> int:
        """Changelog rows inserted over all indexers."""
        return sum(o.changelog_inserted for o in self.outcomes)

    def in_order_of(self, decisions: Sequence[ReindexDecision]) -> TriggerReport:
        """Outcomes sorted like the decisions they answer (the order the purpose chain reported them)."""
        order = {d.indexer_id: i for i, d in enumerate(decisions)}
        self.outcomes.sort(key=lambda o: order.get(o.indexer_id, len(order)))
        return self

    def markdown(self) -> str:
        """The outcomes as a markdown table (REPORT_COLUMNS)."""
        frame = pd.DataFrame(
            [(o.indexer_id, o.decision, o.action, o.changelog_inserted, o.detail) for o in self.outcomes],
            columns=list(REPORT_COLUMNS),
        )
        header = "| " + " | ".join(REPORT_COLUMNS) + " |\n" + "|---" * len(REPORT_COLUMNS) + "|"
        return markdown_table(frame, limit=None, empty=header, max_cell=10_000)


class ReindexTrigger(Protocol):
    """What carries out the reindex decisions: Magento's changelog, a command, or nothing (dry run)."""

    name: str

    def apply(self, decisions: Sequence[ReindexDecision], log: LogFn) -> TriggerReport:
        """Carry out the decisions; the report has one outcome per indexer, in the decisions' order."""
        ...


@dataclass(frozen=True)
class Routing:
    """The decisions sorted once by what a trigger must do with them."""

    none: list[ReindexDecision]
    held: list[ReindexDecision]  # Magento is busy with the indexer: changelog only, state left alone
    partial: list[ReindexDecision]
    full: list[ReindexDecision]


def route(decisions: Sequence[ReindexDecision]) -> Routing:
    """Route decisions: `none` -> nothing; held (any decision) -> changelog only; else partial or full."""
    active = [d for d in decisions if d.decision != "none"]
    return Routing(
        none=[d for d in decisions if d.decision == "none"],
        held=[d for d in active if d.held],
        partial=[d for d in active if not d.held and d.decision == "partial"],
        full=[d for d in active if not d.held and d.decision == "full"],
    )


def _none_outcome(d: ReindexDecision) -> TriggerOutcome:
    return TriggerOutcome(d.indexer_id, d.decision, "none", detail=f"{d.purpose}: {d.reason}")


def _why(d: ReindexDecision) -> str:
    return "; ".join(filter(None, [f"{d.purpose}: {d.reason}", *d.notes]))


# --- changelog ----------------------------------------------------------------------------------------------


class ChangelogTrigger:
    """Database only, what Magento's own cron consumes.

    Partial -> ids into `<view>_cl` (only the missing ones), full -> indexer_state.status='invalid' for
    `indexer_reindex_all_invalid`.
    """

    name = "changelog"

    def __init__(self, engine: sa.Engine, prefix: str = "", chunk_size: int = CHANGELOG_CHUNK) -> None:
        self.engine = engine
        self.prefix = prefix
        self.chunk_size = chunk_size

    def _missing_changelog(self, existing: set[str], d: ReindexDecision) -> str | None:
        name = changelog_name(self.prefix, d.view_id)
        return None if name in existing else name

    def append(self, decisions: Sequence[ReindexDecision], log: LogFn, why: str = "") -> list[TriggerOutcome]:
        """Append each decision's entity ids to its view's changelog (once per view)."""
        done: dict[str, tuple[int, int]] = {}
        outcomes = []
        existing = set(sa.inspect(self.engine).get_table_names()) if decisions else set()
        for d in decisions:
            if missing := self._missing_changelog(existing, d):
                log(f"{d.indexer_id}: changelog {missing} missing, ids not queued")
                outcomes.append(
                    TriggerOutcome(
                        d.indexer_id,
                        d.decision,
                        "skipped",
                        detail=f"changelog table {missing} missing; " + "; ".join(d.notes),
                    )
                )
                continue
            if d.view_id not in done:
                result = append_to_changelog(
                    self.engine, self.prefix, d.view_id, d.entity_ids, self.chunk_size
                )
                done[d.view_id] = (result.inserted, result.already_present)
                log(
                    f"{changelog_name(self.prefix, d.view_id)}: {result.inserted} ids added, "
                    f"{result.already_present} already pending ({d.indexer_id}, {d.decision}{why})"
                )
                inserted, present = done[d.view_id]
            else:
                inserted, present = 0, done[d.view_id][1] + done[d.view_id][0]
            outcomes.append(TriggerOutcome(d.indexer_id, d.decision, "changelog", inserted, present, _why(d)))
        return outcomes

    def invalidate(self, decisions: Sequence[ReindexDecision], log: LogFn) -> list[TriggerOutcome]:
        """Mark each decision's indexer invalid, unless Magento started rebuilding it meanwhile."""
        invalid = set(invalidate_indexers(self.engine, self.prefix, [d.indexer_id for d in decisions]))
        outcomes = []
        for d in decisions:
            if d.indexer_id in invalid:
                log(f"{d.indexer_id}: marked invalid for a full reindex ({d.purpose}: {d.reason})")
                outcomes.append(
                    TriggerOutcome(d.indexer_id, d.decision, "invalidated", detail=f"{d.purpose}: {d.reason}")
                )
            else:
                log(f"{d.indexer_id}: not invalidated (Magento is rebuilding it now)")
                outcomes.append(
                    TriggerOutcome(
                        d.indexer_id,
                        d.decision,
                        "skipped",
                        detail="indexer became 'working' before it could be invalidated",
                    )
                )
        return outcomes

    def apply(self, decisions: Sequence[ReindexDecision], log: LogFn) -> TriggerReport:
        """Append the missing changelog ids (invalidating when the changelog is missing), invalidate fulls."""
        routed = route(decisions)
        existing = set(sa.inspect(self.engine).get_table_names())
        orphans = [d for d in routed.partial if self._missing_changelog(existing, d)]
        for d in orphans:
            log(
                f"{d.indexer_id}: changelog {changelog_name(self.prefix, d.view_id)} missing, "
                "invalidating instead"
            )
        to_append = routed.held + [d for d in routed.partial if d not in orphans]
        to_invalidate = orphans + routed.full
        report = TriggerReport(self.name, [_none_outcome(d) for d in routed.none])
        report.outcomes += self.append([d for d in decisions if d in to_append], log)  # in decision order
        report.outcomes += self.invalidate([d for d in decisions if d in to_invalidate], log)
        return report.in_order_of(decisions)


# --- command ------------------------------------------------------------------------------------------------


class CommandTrigger:
    """Run a command template per decision, e.g. `bin/magento indexer:reindex {indexers}` or over ssh.

    full: one run for all full indexers with `{indexers}`, or one per indexer when the template uses
    `{indexer}`/`{entity_ids}`. partial: one run per indexer and chunk of ids when the template (or
    `partial_template`) uses `{entity_ids}`; otherwise a plain reindex command would rebuild the whole
    indexer, so the ids go to the changelog instead (when an engine was given). Held indexers: changelog only.
    """

    name = "command"

    def __init__(
        self,
        template: str,
        timeout_seconds: float = 3600,
        partial_template: str | None = None,
        changelog: ChangelogTrigger | None = None,
        ids_per_command: int = CHANGELOG_CHUNK,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        kill_grace_seconds: float = 5.0,
    ) -> None:
        render_command(template, ["probe"], [1])  # fail early on an unknown placeholder
        self.template = template
        self.partial_template = partial_template or (template if "{entity_ids}" in template else None)
        self.timeout_seconds = timeout_seconds
        self.changelog = changelog
        self.ids_per_command = ids_per_command
        self.cwd = cwd
        self.env = env
        self.kill_grace_seconds = kill_grace_seconds

    def _run(
        self,
        report: TriggerReport,
        template: str,
        indexers: Sequence[str],
        log: LogFn,
        entity_ids: Sequence[int] = (),
    ) -> None:
        """Render and run `template`; the ids are also on its stdin and in {entity_ids_file}, one per line."""
        with tempfile.TemporaryDirectory(prefix="nacento-reindex-") as folder:
            ids_file = os.path.join(folder, "entity_ids.txt")
            with open(ids_file, "w", encoding="ascii") as out:
                out.writelines(f"{int(i)}\n" for i in entity_ids)
            command = render_command(template, indexers, entity_ids, ids_file)
            log(f"$ {command}")
            rc, count, seconds = run_command(
                command,
                log,
                self.timeout_seconds,
                self.cwd,
                self.env,
                self.kill_grace_seconds,
                stdin_file=ids_file,
            )
        report.commands.append(CommandRun(command, tuple(indexers), rc, round(seconds, 3), count))

    def _via_changelog(self, decisions: Sequence[ReindexDecision], log: LogFn) -> list[TriggerOutcome]:
        if self.changelog is not None:
            return self.changelog.append(decisions, log)
        for d in decisions:
            log(f"{d.indexer_id}: skipped, Magento is busy with it ({'; '.join(d.notes)})")
        return [
            TriggerOutcome(d.indexer_id, d.decision, "skipped", detail="; ".join(d.notes)) for d in decisions
        ]

    def _full(self, report: TriggerReport, full: Sequence[ReindexDecision], log: LogFn) -> None:
        per_indexer = "{indexer}" in self.template or "{entity_ids}" in self.template
        for group in [[d] for d in full] if per_indexer else [list(full)]:
            names = [d.indexer_id for d in group]
            # a full reindex covers the whole indexer: {entity_ids} renders empty
            self._run(report, self.template, names, log)
            report.outcomes += [
                TriggerOutcome(d.indexer_id, d.decision, "command", detail=f"{d.purpose}: {d.reason}")
                for d in group
            ]

    def _partial(self, report: TriggerReport, d: ReindexDecision, log: LogFn) -> None:
        template = self.partial_template or self.template
        ids = list(d.entity_ids)
        if "{entity_ids}" not in template:
            self._run(report, template, [d.indexer_id], log)
            detail = "template has no {entity_ids}: the whole indexer was reindexed"
        else:
            for start in range(0, len(ids), self.ids_per_command):
                chunk = ids[start : start + self.ids_per_command]
                self._run(report, template, [d.indexer_id], log, chunk)
            detail = f"{len(ids)} ids in {-(-len(ids) // self.ids_per_command)} run(s)"
        report.outcomes.append(TriggerOutcome(d.indexer_id, d.decision, "command", detail=detail))

    def apply(self, decisions: Sequence[ReindexDecision], log: LogFn) -> TriggerReport:
        """Run the commands the decisions call for; what no command narrows to ids goes to the changelog."""
        routed = route(decisions)
        for d in (
            *routed.held,
            *routed.partial,
            *routed.full,
        ):  # refuse before anything runs, not halfway through
            safe_indexer(d.indexer_id)
        partial_by_changelog = self.partial_template is None and self.changelog is not None
        report = TriggerReport(self.name, [_none_outcome(d) for d in routed.none])
        if via_changelog := routed.held + (routed.partial if partial_by_changelog else []):
            report.outcomes += self._via_changelog(via_changelog, log)
        if routed.full:
            self._full(report, routed.full, log)
        for d in [] if partial_by_changelog else routed.partial:
            self._partial(report, d, log)
        return report.in_order_of(decisions)


# --- dry-run ------------------------------------------------------------------------------------------------


class DryRunTrigger:
    """Decide and report only."""

    name = "dry-run"

    def apply(self, decisions: Sequence[ReindexDecision], log: LogFn) -> TriggerReport:
        """Log and report each decision; nothing is changed."""
        report = TriggerReport(self.name)
        for d in decisions:
            ids = f", {len(d.entity_ids)} ids" if d.decision == "partial" else ""
            held = " (held: Magento is busy)" if d.held else ""
            log(f"dry-run: {d.indexer_id} -> {d.decision}{ids} [{d.purpose}: {d.reason}]{held}")
            report.outcomes.append(TriggerOutcome(d.indexer_id, d.decision, "dry-run", detail=_why(d)))
        return report


def trigger_for(
    kind: str,
    engine: sa.Engine | None,
    prefix: str,
    *,
    command: str,
    partial_command: str | None,
    timeout_seconds: float,
    env: Mapping[str, str] | None = None,
) -> ReindexTrigger:
    """The trigger named `kind` (`changelog`, `command` or `dry-run`)."""
    if kind == "dry-run":
        return DryRunTrigger()
    if kind == "changelog":
        if engine is None:
            raise ReindexTriggerError("the changelog trigger needs the Magento database engine")
        return ChangelogTrigger(engine, prefix)
    if kind == "command":
        changelog = ChangelogTrigger(engine, prefix) if engine is not None else None
        return CommandTrigger(
            command, timeout_seconds, partial_template=partial_command, changelog=changelog, env=env
        )
    raise ReindexTriggerError(f"unknown reindex trigger {kind!r}; expected changelog, command or dry-run")
