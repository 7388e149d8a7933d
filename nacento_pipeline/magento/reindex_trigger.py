"""Carry out reindex decisions: `changelog` (database only), `command` (bin/magento, local or ssh), `dry-run`.

All triggers share one surface, `apply(decisions, log) -> TriggerReport`; `make_trigger` picks one from Settings.
Indexers Magento is busy with (indexer 'working', view 'suspended') only get their ids appended to the
changelog, so the pipeline never fights Magento's own cron.
"""

from __future__ import annotations

import numbers
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd
import sqlalchemy as sa

from nacento_pipeline.config import Settings
from nacento_pipeline.core.reindex import SAFE_INDEXER_NAME, ReindexDecision
from nacento_pipeline.magento.indexers import (
    CHANGELOG_CHUNK,
    append_to_changelog,
    changelog_name,
    invalidate_indexers,
)

LogFn = Callable[[str], None]

TRIGGER_OUTCOME_COLUMNS = (
    "indexer", "decision", "action", "changelog_inserted", "changelog_present", "detail",
)


class ReindexTriggerError(RuntimeError):
    """A reindex trigger could not do what the decision asked."""


class ReindexCommandError(ReindexTriggerError):
    """The reindex command exited non-zero; carries the command, exit code and the last output lines."""

    def __init__(self, command: str, returncode: int, tail: Sequence[str]) -> None:
        last = "\n".join(tail)
        super().__init__(f"reindex command failed with exit code {returncode}: {command}\n{last}")
        self.command = command
        self.returncode = returncode
        self.tail = tuple(tail)


class ReindexCommandTimeout(ReindexCommandError):
    """The reindex command ran longer than the timeout; its process group was killed."""

    def __init__(self, command: str, timeout_seconds: float, tail: Sequence[str]) -> None:
        last = "\n".join(tail)
        ReindexTriggerError.__init__(
            self, f"reindex command timed out after {timeout_seconds:g}s and was killed: {command}\n{last}"
        )
        self.command = command
        self.returncode = -1
        self.tail = tuple(tail)
        self.timeout_seconds = timeout_seconds


class CommandTemplateError(ReindexTriggerError):
    """The command template uses a placeholder we do not know."""


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


@dataclass
class TriggerReport:
    """Outcome per indexer plus the commands run, for Dagster metadata."""

    trigger: str
    outcomes: list[TriggerOutcome] = field(default_factory=list)
    commands: list[CommandRun] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def changelog_inserted(self) -> int:
        return sum(o.changelog_inserted for o in self.outcomes)

    def frame(self) -> pd.DataFrame:
        rows = [
            {"indexer": o.indexer_id, "decision": o.decision, "action": o.action,
             "changelog_inserted": o.changelog_inserted, "changelog_present": o.changelog_present,
             "detail": o.detail}
            for o in self.outcomes
        ]
        if not rows:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in TRIGGER_OUTCOME_COLUMNS})
        return pd.DataFrame(rows, columns=list(TRIGGER_OUTCOME_COLUMNS))

    def markdown(self) -> str:
        lines = ["| indexer | decision | action | changelog +rows | detail |", "|---|---|---|---|---|"]
        lines += [
            f"| {o.indexer_id} | {o.decision} | {o.action} | {o.changelog_inserted} | "
            f"{o.detail.replace('|', '/')} |"
            for o in self.outcomes
        ]
        return "\n".join(lines)


class ReindexTrigger(Protocol):
    name: str

    def apply(self, decisions: Sequence[ReindexDecision], log: LogFn) -> TriggerReport: ...


def _none_outcome(d: ReindexDecision) -> TriggerOutcome:
    return TriggerOutcome(d.indexer_id, d.decision, "none", detail=f"{d.purpose}: {d.reason}")


# --- changelog ----------------------------------------------------------------------------------------------


class ChangelogTrigger:
    """Database only, what Magento's own cron consumes: partial -> ids into `<view>_cl` (only the missing
    ones), full -> indexer_state.status='invalid' for `indexer_reindex_all_invalid`."""

    name = "changelog"

    def __init__(self, engine: sa.Engine, prefix: str = "", chunk_size: int = CHANGELOG_CHUNK) -> None:
        self.engine = engine
        self.prefix = prefix
        self.chunk_size = chunk_size

    def append(self, decisions: Sequence[ReindexDecision], log: LogFn, why: str = "") -> list[TriggerOutcome]:
        """Append each decision's entity ids to its view's changelog (once per view)."""
        done: dict[str, tuple[int, int]] = {}
        outcomes = []
        existing = set(sa.inspect(self.engine).get_table_names()) if decisions else set()
        for d in decisions:
            if changelog_name(self.prefix, d.view_id) not in existing:
                log(f"{d.indexer_id}: changelog {changelog_name(self.prefix, d.view_id)} missing, ids not queued")
                outcomes.append(
                    TriggerOutcome(d.indexer_id, d.decision, "skipped",
                                   detail=f"changelog table {changelog_name(self.prefix, d.view_id)} missing; "
                                   + "; ".join(d.notes))
                )
                continue
            if d.view_id not in done:
                result = append_to_changelog(self.engine, self.prefix, d.view_id, d.entity_ids, self.chunk_size)
                done[d.view_id] = (result.inserted, result.already_present)
                log(
                    f"{changelog_name(self.prefix, d.view_id)}: {result.inserted} ids added, "
                    f"{result.already_present} already pending ({d.indexer_id}, {d.decision}{why})"
                )
                inserted, present = done[d.view_id]
            else:
                inserted, present = 0, done[d.view_id][1] + done[d.view_id][0]
            detail = "; ".join(filter(None, [f"{d.purpose}: {d.reason}", *d.notes]))
            outcomes.append(TriggerOutcome(d.indexer_id, d.decision, "changelog", inserted, present, detail))
        return outcomes

    def apply(self, decisions: Sequence[ReindexDecision], log: LogFn) -> TriggerReport:
        report = TriggerReport(self.name)
        existing = set(sa.inspect(self.engine).get_table_names())
        to_append: list[ReindexDecision] = []
        to_invalidate: list[ReindexDecision] = []
        for d in decisions:
            if d.decision == "none":
                report.outcomes.append(_none_outcome(d))
            elif d.held:
                to_append.append(d)  # Magento is busy: the changelog carries the ids, state is left alone
            elif d.decision == "partial" and changelog_name(self.prefix, d.view_id) not in existing:
                log(f"{d.indexer_id}: changelog {changelog_name(self.prefix, d.view_id)} missing, "
                    "invalidating instead")
                to_invalidate.append(d)
            elif d.decision == "partial":
                to_append.append(d)
            else:
                to_invalidate.append(d)
        report.outcomes += self.append(to_append, log)
        invalid = set(invalidate_indexers(self.engine, self.prefix, [d.indexer_id for d in to_invalidate]))
        for d in to_invalidate:
            if d.indexer_id in invalid:
                log(f"{d.indexer_id}: marked invalid for a full reindex ({d.purpose}: {d.reason})")
                report.outcomes.append(
                    TriggerOutcome(d.indexer_id, d.decision, "invalidated", detail=f"{d.purpose}: {d.reason}")
                )
            else:
                log(f"{d.indexer_id}: not invalidated (Magento is rebuilding it now)")
                report.outcomes.append(
                    TriggerOutcome(d.indexer_id, d.decision, "skipped",
                                   detail="indexer became 'working' before it could be invalidated")
                )
        order = {d.indexer_id: i for i, d in enumerate(decisions)}
        report.outcomes.sort(key=lambda o: order.get(o.indexer_id, len(order)))
        return report


# --- command ------------------------------------------------------------------------------------------------




def _safe_indexer(name: str) -> str:
    if not isinstance(name, str) or not SAFE_INDEXER_NAME.fullmatch(name):
        raise CommandTemplateError(
            f"indexer name {name!r} is not allowed in a reindex command (letters, digits, _ . - only)"
        )
    return name


def _safe_entity_id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CommandTemplateError(f"entity id {value!r} is not an integer")
    return str(int(value))


def render_command(template: str, indexers: Sequence[str], entity_ids: Sequence[int] = ()) -> str:
    """Fill `{indexers}` (space separated), `{indexer}` (the first) and `{entity_ids}` (comma separated).

    Indexer names must match SAFE_INDEXER_NAME and entity ids must be integers, so a value can never
    break out of the template whatever quoting the template uses around it (local shell or ssh).
    """
    names = [_safe_indexer(i) for i in indexers]
    values = {
        "indexers": " ".join(names),
        "indexer": names[0] if names else "",
        "entity_ids": ",".join(_safe_entity_id(i) for i in entity_ids),
    }
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise CommandTemplateError(
            f"reindex command template {template!r}: unknown placeholder {exc}; "
            "use {indexers}, {indexer} or {entity_ids}"
        ) from exc


def _kill_group(proc: subprocess.Popen[str], grace_seconds: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_seconds)
            return
        except subprocess.TimeoutExpired:
            continue


def run_command(
    command: str,
    log: LogFn,
    timeout_seconds: float,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    kill_grace_seconds: float = 5.0,
) -> tuple[int, int, float]:
    """Run `command` in a shell in its own process group, streaming each output line into `log`.

    Returns (exit code, output lines, seconds). Raises ReindexCommandTimeout after killing the whole
    process group when it runs longer than `timeout_seconds`, ReindexCommandError on a non-zero exit.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        command, shell=True, cwd=cwd, env=dict(env) if env is not None else None,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        text=True, errors="replace", bufsize=1, start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, name="reindex-command-output", daemon=True)
    reader.start()
    tail: deque[str] = deque(maxlen=20)
    count = 0
    deadline = started + timeout_seconds
    eof = False
    while not eof:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _kill_group(proc, kill_grace_seconds)
            log(f"reindex command timed out after {timeout_seconds:g}s, process group killed")
            raise ReindexCommandTimeout(command, timeout_seconds, tail)
        try:
            line = lines.get(timeout=min(remaining, 0.2))
        except queue.Empty:
            continue
        if line is None:
            eof = True
        else:
            count += 1
            tail.append(line)
            log(line)
    try:
        returncode = proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc, kill_grace_seconds)
        raise ReindexCommandTimeout(command, timeout_seconds, tail) from exc
    seconds = time.monotonic() - started
    if returncode != 0:
        raise ReindexCommandError(command, returncode, tail)
    return returncode, count, seconds


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

    def _run(self, report: TriggerReport, command: str, indexers: Sequence[str], log: LogFn) -> None:
        log(f"$ {command}")
        rc, count, seconds = run_command(
            command, log, self.timeout_seconds, self.cwd, self.env, self.kill_grace_seconds
        )
        report.commands.append(CommandRun(command, tuple(indexers), rc, round(seconds, 3), count))

    def apply(self, decisions: Sequence[ReindexDecision], log: LogFn) -> TriggerReport:
        for d in decisions:  # refuse before anything runs, not halfway through
            if d.decision != "none":
                _safe_indexer(d.indexer_id)
        report = TriggerReport(self.name)
        held = [d for d in decisions if d.held]
        full = [d for d in decisions if d.decision == "full" and not d.held]
        partial = [d for d in decisions if d.decision == "partial" and not d.held]
        via_changelog = list(held)
        if self.partial_template is None and self.changelog is not None:
            via_changelog += partial
            partial = []
        for d in decisions:
            if d.decision == "none":
                report.outcomes.append(_none_outcome(d))
        if via_changelog:
            if self.changelog is not None:
                report.outcomes += self.changelog.append(via_changelog, log)
            else:
                for d in via_changelog:
                    log(f"{d.indexer_id}: skipped, Magento is busy with it ({'; '.join(d.notes)})")
                    report.outcomes.append(
                        TriggerOutcome(d.indexer_id, d.decision, "skipped", detail="; ".join(d.notes))
                    )
        if full:
            per_indexer = "{indexer}" in self.template or "{entity_ids}" in self.template
            groups = [[d] for d in full] if per_indexer else [full]
            for group in groups:
                names = [d.indexer_id for d in group]
                # a full reindex covers the whole indexer: {entity_ids} renders empty
                self._run(report, render_command(self.template, names), names, log)
                report.outcomes += [
                    TriggerOutcome(d.indexer_id, d.decision, "command", detail=f"{d.purpose}: {d.reason}")
                    for d in group
                ]
        template = self.partial_template or self.template
        for d in partial:
            ids = list(d.entity_ids)
            if "{entity_ids}" not in template:
                self._run(report, render_command(template, [d.indexer_id]), [d.indexer_id], log)
                detail = "template has no {entity_ids}: the whole indexer was reindexed"
            else:
                for start in range(0, len(ids), self.ids_per_command):
                    chunk = ids[start : start + self.ids_per_command]
                    self._run(report, render_command(template, [d.indexer_id], chunk), [d.indexer_id], log)
                detail = f"{len(ids)} ids in {-(-len(ids) // self.ids_per_command)} run(s)"
            report.outcomes.append(TriggerOutcome(d.indexer_id, d.decision, "command", detail=detail))
        order = {d.indexer_id: i for i, d in enumerate(decisions)}
        report.outcomes.sort(key=lambda o: order.get(o.indexer_id, len(order)))
        return report


# --- dry-run ------------------------------------------------------------------------------------------------


class DryRunTrigger:
    """Decide and report only."""

    name = "dry-run"

    def apply(self, decisions: Sequence[ReindexDecision], log: LogFn) -> TriggerReport:
        report = TriggerReport(self.name)
        for d in decisions:
            ids = f", {len(d.entity_ids)} ids" if d.decision == "partial" else ""
            held = " (held: Magento is busy)" if d.held else ""
            log(f"dry-run: {d.indexer_id} -> {d.decision}{ids} [{d.purpose}: {d.reason}]{held}")
            report.outcomes.append(
                TriggerOutcome(d.indexer_id, d.decision, "dry-run",
                               detail="; ".join(filter(None, [f"{d.purpose}: {d.reason}", *d.notes])))
            )
        return report


def make_trigger(settings: Settings, engine: sa.Engine | None, prefix: str | None = None) -> ReindexTrigger:
    """The trigger Settings.reindex_trigger names (`changelog`, `command` or `dry-run`)."""
    prefix = settings.table_prefix if prefix is None else prefix
    kind = settings.reindex_trigger
    if kind == "dry-run":
        return DryRunTrigger()
    if kind == "changelog":
        if engine is None:
            raise ReindexTriggerError("the changelog trigger needs the Magento database engine")
        return ChangelogTrigger(engine, prefix)
    if kind == "command":
        changelog = ChangelogTrigger(engine, prefix) if engine is not None else None
        return CommandTrigger(settings.reindex_command, settings.reindex_timeout_seconds,
                              partial_template=settings.reindex_partial_command, changelog=changelog)
    raise ReindexTriggerError(f"unknown reindex trigger {kind!r}; expected changelog, command or dry-run")
