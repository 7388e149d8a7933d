"""Exceptions raised by the pure core while parsing drops and bunch files.

Each carries the place it is about (file, line, field) so that the one place turning errors into rejection
rows or run failures can report them without parsing messages.
"""

from __future__ import annotations


class CoreError(ValueError):
    """Base class of the core's domain errors."""


class InvalidPath(CoreError):
    """A `file_path` that cannot be turned into a gallery value; `reason` says why."""

    def __init__(self, reason: str, raw: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class BatchFileError(CoreError):
    """A bunch file that cannot be read at all (bad encoding, malformed JSON, CSV without its columns)."""

    def __init__(self, file: str, reason: str, line: int = 0) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {reason}")
        self.file = file
        self.line = line
        self.field = "file"
        self.reason = reason
