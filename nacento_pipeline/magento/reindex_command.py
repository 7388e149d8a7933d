"""Running a reindex command: render its template safely, run it in its own process group, stream its output.

The values a template places on its command line are inert in any shell, local or remote (indexer names of
SAFE_INDEXER_NAME's letters, digits, `_ . -`, not starting with `-`; integer entity ids). The entity ids also
reach the command on stdin, one per line, and in `{entity_ids_file}`, for a remote command that reads them.
Plumbing only; which decisions reach a command is `reindex_trigger.CommandTrigger`'s business.
"""

from __future__ import annotations

import numbers
import os
import queue
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from nacento_pipeline.core.reindex.decision import SAFE_INDEXER_NAME
from nacento_pipeline.core.retry import TransientError

LogFn = Callable[[str], None]


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


class ReindexCommandTimeout(ReindexCommandError, TransientError):
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


def safe_indexer(name: str) -> str:
    """`name`, or CommandTemplateError when it is no indexer name a command may hold (SAFE_INDEXER_NAME)."""
    if not isinstance(name, str) or not SAFE_INDEXER_NAME.fullmatch(name):
        raise CommandTemplateError(
            f"indexer name {name!r} is not allowed in a reindex command (letters, digits, _ . - only)"
        )
    return name


def _safe_entity_id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CommandTemplateError(f"entity id {value!r} is not an integer")
    return str(int(value))


def render_command(
    template: str, indexers: Sequence[str], entity_ids: Sequence[int] = (), ids_file: str = ""
) -> str:
    """Fill the placeholders of a reindex command template.

    `{indexers}` (space separated), `{indexer}` (the first), `{entity_ids}` (comma separated) and
    `{entity_ids_file}` (the path of a file with the ids, one per line, shell-quoted).

    Indexer names must match SAFE_INDEXER_NAME and entity ids must be integers, so a value can never
    break out of the template whatever quoting the template uses around it (local shell or ssh).
    """
    names = [safe_indexer(i) for i in indexers]
    values = {
        "indexers": " ".join(names),
        "indexer": names[0] if names else "",
        "entity_ids": ",".join(_safe_entity_id(i) for i in entity_ids),
        "entity_ids_file": shlex.quote(ids_file) if ids_file else "",
    }
    try:
        return template.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise CommandTemplateError(
            f"reindex command template {template!r}: unknown placeholder {exc}; "
            "use {indexers}, {indexer}, {entity_ids} or {entity_ids_file}"
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
    stdin_file: str | None = None,
) -> tuple[int, int, float]:
    """Run `command` in a shell in its own process group, streaming each output line into `log`.

    Its stdin is `stdin_file` (none when not given), its environment `env` (None: this process's).

    Returns (exit code, output lines, seconds). Raises ReindexCommandTimeout after killing the whole
    process group when it runs longer than `timeout_seconds`, ReindexCommandError on a non-zero exit.
    """
    started = time.monotonic()
    with open(stdin_file, "rb") if stdin_file else open(os.devnull, "rb") as stdin:
        proc = subprocess.Popen(
            command,
            shell=True,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=stdin,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
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
