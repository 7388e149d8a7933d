"""`command`: a command template, e.g. `bin/magento cache:clean full_page` (may be `ssh host ...`)."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence

from nacento_pipeline.cache.base import CacheError, CacheReport, TransientCacheError

MAX_ARGUMENT_TAGS = 5000  # tags per run of a template that uses {tags}


class CommandCache:
    """Runs `command` once (or once per 5,000 tags when it uses `{tags}`, space-separated); `{images}` in
    `images_command` receives the gallery values. A non-zero exit is retried (it is usually a lock or a
    connection), a missing program is not."""

    name = "command"

    def __init__(self, command: str, images_command: str | None = None, timeout: float = 600.0) -> None:
        if not command.strip():
            raise CacheError("NACENTO_CACHE_COMMAND is empty")
        self.command = command
        self.images_command = images_command
        self.timeout = timeout

    def _run(self, template: str, placeholder: str, values: Sequence[str]) -> tuple[int, tuple[str, ...]]:
        runs = []
        if "{" + placeholder + "}" in template:
            for start in range(0, len(values), MAX_ARGUMENT_TAGS):
                joined = " ".join(shlex.quote(v) for v in values[start:start + MAX_ARGUMENT_TAGS])
                runs.append(template.replace("{" + placeholder + "}", joined))
        else:
            runs.append(template)
        for line in runs:
            try:
                done = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=self.timeout)
            except FileNotFoundError as exc:
                raise CacheError(f"cache command {line[:200]!r}: {exc}") from exc
            except subprocess.TimeoutExpired as exc:
                raise TransientCacheError(f"cache command timed out after {self.timeout:g}s: {line[:200]!r}") from exc
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                raise TransientCacheError(f"cache command exited {done.returncode}: {line[:200]!r}: {' / '.join(tail)}")
        return len(runs), (template,)

    def clean_tags(self, tags: Sequence[str]) -> CacheReport:
        if not tags:
            return CacheReport(self.name, "tags", requests=0)
        requests, targets = self._run(self.command, "tags", list(tags))
        return CacheReport(self.name, "tags", tags=len(tags), requests=requests, targets=targets)

    def clean_images(self, values: Sequence[str]) -> CacheReport:
        if not values or not self.images_command:
            return CacheReport(self.name, "images", tags=len(values), requests=0,
                               notes=() if values else ("no image command configured",))
        requests, targets = self._run(self.images_command, "images", list(values))
        return CacheReport(self.name, "images", tags=len(values), requests=requests, targets=targets)
