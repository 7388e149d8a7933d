r"""`command`: a command template, e.g. `bin/magento cache:clean full_page` or `ssh web 'xargs -d "\n" ...'`.

The values (cache tags, gallery values) reach the command on stdin, one per line, in `{tags_file}` /
`{images_file}`, or, for local programs only, as arguments (`{tags}` / `{images}`); see
`core.command_template`. No shell ever parses a template or a value on this side.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from nacento_pipeline.cache.base import CacheError, CacheReport, TransientCacheError
from nacento_pipeline.core.command_template import (
    CommandTemplate,
    CommandTemplateError,
    line_safe_values,
    parse_template,
)

MAX_ARGUMENT_TAGS = 5000  # values per run of a template that takes them as arguments ({tags}, {images})


def _parsed(text: str, name: str, variable: str) -> CommandTemplate:
    try:
        return parse_template(text, name)
    except CommandTemplateError as exc:
        raise CacheError(f"{variable}: {exc}") from exc


class CommandCache:
    """Runs `command` with the cache tags and `images_command` with the gallery values of purged images.

    The tags go once, or once per 5,000 tags when they are arguments. A non-zero exit is retried (it is
    usually a lock or a connection), a missing program is not. `env` is the commands' whole environment (None:
    this process's).
    """

    name = "command"

    def __init__(
        self,
        command: str,
        images_command: str | None = None,
        timeout: float = 600.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not command.strip():
            raise CacheError("NACENTO_CACHE_COMMAND is empty")
        self.command = command
        self.images_command = images_command
        self._tags = _parsed(command, "tags", "NACENTO_CACHE_COMMAND")
        self._images = (
            _parsed(images_command, "images", "NACENTO_CACHE_IMAGES_COMMAND") if images_command else None
        )
        self.timeout = timeout
        self.env = dict(env) if env is not None else None

    def _run(
        self, template: CommandTemplate, values: Sequence[str]
    ) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
        """(runs, targets, notes) of running `template` over `values`."""
        kept, dropped = line_safe_values(values)
        notes = (f"{len(dropped)} value(s) with a line break or NUL left out",) if dropped else ()
        step = MAX_ARGUMENT_TAGS if template.takes_arguments else max(len(kept), 1)
        batches = [kept[start : start + step] for start in range(0, len(kept), step)] or [[]]
        with tempfile.TemporaryDirectory(prefix="nacento-cache-") as folder:
            values_file = Path(folder) / f"{template.name}.txt"
            for batch in batches:
                lines = "".join(v + "\n" for v in batch)
                values_file.write_text(lines, encoding="utf-8")
                self._run_once(template.argv(batch, str(values_file)), lines)
        return len(batches), (template.text,), notes

    def _run_once(self, argv: list[str], lines: str) -> None:
        shown = " ".join(argv)[:200]
        try:
            done = subprocess.run(
                argv, input=lines, capture_output=True, text=True, timeout=self.timeout, env=self.env
            )
        except FileNotFoundError as exc:
            raise CacheError(f"cache command {shown!r}: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise TransientCacheError(f"cache command timed out after {self.timeout:g}s: {shown!r}") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise TransientCacheError(
                f"cache command exited {done.returncode}: {shown!r}: {' / '.join(tail)}"
            )

    def clean_tags(self, tags: Sequence[str]) -> CacheReport:
        """Run `command` with the tags (nothing for no tags)."""
        if not tags:
            return CacheReport(self.name, "tags", requests=0)
        requests, targets, notes = self._run(self._tags, list(tags))
        return CacheReport(self.name, "tags", tags=len(tags), requests=requests, targets=targets, notes=notes)

    def clean_images(self, values: Sequence[str]) -> CacheReport:
        """Run `images_command` with the gallery values (nothing for none, or without an images command)."""
        if not values or self._images is None:
            return CacheReport(
                self.name,
                "images",
                tags=len(values),
                requests=0,
                notes=() if values else ("no image command configured",),
            )
        requests, targets, notes = self._run(self._images, list(values))
        return CacheReport(
            self.name, "images", tags=len(values), requests=requests, targets=targets, notes=notes
        )
