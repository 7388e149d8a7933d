"""The text of a failure as it is shown outside the run (step failures, alerts, e-mail, Slack, metadata).

SQLAlchemy's messages repeat the statement (`[SQL: ...]`) and its bound values (`[parameters: ...]`): payload
text, and on a failed INSERT whole rows of the batch. Both parts are cut out; what is left (the driver's own
message, with its error code) is cut to `FAILURE_TEXT_LIMIT` characters.
"""

from __future__ import annotations

import re

FAILURE_TEXT_LIMIT = 2048
CUT_MARK = " ... [cut]"
_BACKGROUND = "\n(Background on this error at:"
_SQL_PART = re.compile(r"\n?\[SQL: ")


def without_sql(text: str) -> str:
    """`text` without the `[SQL: ...]` and `[parameters: ...]` parts SQLAlchemy appends.

    Everything from the first `[SQL: ` to SQLAlchemy's closing "Background on this error" line, or to the end,
    is cut.
    """
    found = _SQL_PART.search(text)
    if found is None:
        return text
    tail = text.rfind(_BACKGROUND, found.end())
    kept = text[: found.start()] + (text[tail:] if tail >= 0 else "")
    return (
        kept.replace(_BACKGROUND, " (statement and parameters not shown)" + _BACKGROUND, 1)
        if tail >= 0
        else (kept + " (statement and parameters not shown)")
    )


def cut(text: str, limit: int = FAILURE_TEXT_LIMIT) -> str:
    """`text` at most `limit` characters long, a cut one marked as such."""
    return text if len(text) <= limit else text[: max(0, limit - len(CUT_MARK))] + CUT_MARK


def failure_text(error: BaseException | str, limit: int = FAILURE_TEXT_LIMIT) -> str:
    """`Class: message` of an error and of its causes (`<- Class: message`), cut to `limit`.

    SQL statements and parameters are left out.
    """
    if isinstance(error, str):
        return cut(without_sql(error), limit)
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {without_sql(str(current))}".strip())
        linked = getattr(current, "orig", None)
        current = current.__cause__ or (linked if isinstance(linked, BaseException) else None)
    # SQLAlchemy's message already starts with its driver error's: the driver's own part adds nothing
    shown = [part for n, part in enumerate(parts) if n == 0 or part.split(": ", 1)[-1] not in parts[n - 1]]
    return cut(" <- ".join(shown), limit)
