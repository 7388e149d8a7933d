"""Command templates that receive values (cache tags, gallery values): how values reach the command safely.

A template is split into words as a POSIX shell would split it (shlex) but never run by a shell. Its values
reach the command in three ways:
- on stdin, one value per line (always);
- `{<name>_file}`: a word that becomes the path of a file holding the same lines;
- `{<name>}`: a word that becomes one argument per value (for local programs only).

A remote-shell program (`ssh` and its kin) joins its arguments into one line that the remote shell parses
again, so a value given as an argument would be interpreted there: a template that runs one may take its
values only from stdin or the file, and `{<name>}` in it is refused. A placeholder must be a word of its own
(`--tags={tags}` is refused): then no value can ever be glued into a longer word or a quoted script.

Commands also get a small environment (`environment_names`): PATH and HOME, the variables the template
names (`$NAME`, `${NAME}`) and the ones the operator lists, never the rest of the pipeline's environment
(database URL, storage keys).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from nacento_pipeline.core.errors import CoreError

# Programs that hand their arguments to a shell on another machine as one command line.
REMOTE_SHELLS = frozenset({"ssh", "autossh", "rsh", "remsh", "plink", "dbclient", "mosh"})
BASE_ENVIRONMENT = ("PATH", "HOME")
_NAMED_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_LINE_BREAKS = ("\n", "\r", "\x00")


class CommandTemplateError(CoreError):
    """A command template that cannot be run safely or at all; the message says why."""


@dataclass(frozen=True)
class CommandTemplate:
    """A parsed template whose values are named `name` (`{name}`, `{name_file}`)."""

    text: str
    name: str
    words: tuple[str, ...]

    @property
    def inline(self) -> str:
        """The placeholder of the values as arguments, `{name}`."""
        return "{" + self.name + "}"

    @property
    def file(self) -> str:
        """The placeholder of the file holding the values, `{name_file}`."""
        return "{" + self.name + "_file}"

    @property
    def takes_arguments(self) -> bool:
        """Values become arguments (`{name}` is a word of the template)."""
        return self.inline in self.words

    def argv(self, values: Sequence[str], values_file: str) -> list[str]:
        """The command's arguments: `{name}` as one word per value, `{name_file}` as `values_file`."""
        out: list[str] = []
        for word in self.words:
            if word == self.inline:
                out.extend(values)
            elif word == self.file:
                out.append(values_file)
            else:
                out.append(word)
        return out


def parse_template(text: str, name: str) -> CommandTemplate:
    """Split and check a template (module docstring), or raise CommandTemplateError saying what to change."""
    try:
        words = tuple(shlex.split(text))
    except ValueError as exc:
        raise CommandTemplateError(f"cannot split the command {text!r} into words: {exc}") from exc
    if not words:
        raise CommandTemplateError("the command is empty")
    template = CommandTemplate(text, name, words)
    for word in words:
        for placeholder in (template.inline, template.file):
            if placeholder in word and word != placeholder:
                raise CommandTemplateError(
                    f"{placeholder} must be a word of its own, not part of {word!r}: "
                    "values are never glued into a longer argument or a quoted script"
                )
    remote = remote_shell(words)
    if remote is not None and template.takes_arguments:
        raise CommandTemplateError(
            f"{template.inline} cannot be used with {remote!r}: "
            "it joins its arguments into one line for the remote shell, which would interpret the values; "
            f"read them on stdin (one per line) or from {template.file}, "
            f"e.g. `{remote} host 'xargs -d \"\\n\" some-command'`"
        )
    return template


def remote_shell(words: Sequence[str]) -> str | None:
    """The first word naming a remote-shell program (any path, e.g. /usr/bin/ssh), or None."""
    return next((w for w in words if os.path.basename(w) in REMOTE_SHELLS), None)


def line_safe_values(values: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the values that can be given one per line, those left out because they hold a line break or NUL)."""
    unsafe = [any(c in v for c in _LINE_BREAKS) for v in values]
    return (
        [v for v, bad in zip(values, unsafe, strict=True) if not bad],
        [v for v, bad in zip(values, unsafe, strict=True) if bad],
    )


def environment_names(template: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The variables a command's process gets (when set): PATH, HOME, those `template` names, and `extra`."""
    return tuple(dict.fromkeys((*BASE_ENVIRONMENT, *_NAMED_VARIABLE.findall(template), *extra)))
