"""The header of an Akeneo product export: which column holds which attribute in which locale and channel.

Akeneo names a value column `<attribute>` (neither localizable nor scopable), `<attribute>-<locale>`,
`<attribute>-<channel>` or `<attribute>-<locale>-<channel>`; attribute, locale and channel codes never hold
a `-`. Other columns (`sku`, `enabled`, `family`, `categories`, `groups`, `parent`, prices `price-EUR`,
metrics `weight-unit`) are left alone. Codes are compared case-insensitively (headers are lower-cased).

An export made with `header_with_label` has the attributes' translated labels as its header ("Name (English
(United States), E-commerce)"): no code can be read from it, so it is refused; one made with `with_label`
has labels as values, recognised by its `enabled` column not holding 1/0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nacento_pipeline.core.errors import BatchFileError

# Akeneo's locale codes: language, optional script, country (en_US, zh_CN, sr_Latn_RS), lower-cased here.
LOCALE_PATTERN = re.compile(r"[a-z]{2,3}(?:_[a-z]{4})?_[a-z]{2,3}")
# A code-based header cell: codes of letters, digits and `_`, joined by `-` (at most three parts).
_CODE_CELL = re.compile(r"[a-z0-9_]+(?:-[a-z0-9_]+){0,2}")
BOOLEAN_CELLS = frozenset({"", "0", "1"})
# Columns Akeneo always writes in lower case in a code-based header ("Enabled", "Family" are their labels).
FIXED_COLUMNS = frozenset({"enabled", "family", "categories", "groups", "parent"})
REASON_HEADER_WITH_LABEL = (
    "the header holds translated labels, not attribute codes (an export made with header_with_label): "
    "export again without `header_with_label` and `with_label`"
)
REASON_WITH_LABEL = (
    "column `enabled` holds {value!r} where Akeneo writes 1 or 0 (an export made with with_label, "
    "whose values are translated labels): export again without `with_label`"
)


@dataclass(frozen=True)
class Scope:
    """Which locale and channel a value column is for ("" = not localizable / not scopable)."""

    locale: str = ""
    channel: str = ""


def scope_of_suffix(parts: Sequence[str], locales: Iterable[str] = ()) -> Scope | None:
    """The scope of a column's parts after the attribute code; None when they cannot be a value column's."""
    known = {code.lower() for code in locales}
    if not parts:
        return Scope()
    if len(parts) == 1:
        part = parts[0]
        return Scope(locale=part) if part in known or LOCALE_PATTERN.fullmatch(part) else Scope(channel=part)
    if len(parts) == 2:
        return Scope(locale=parts[0], channel=parts[1])
    return None


@dataclass(frozen=True)
class ExportHeader:
    """The normalised column names of one export file, and its value columns by attribute."""

    file: str
    columns: tuple[str, ...]

    def has(self, column: str) -> bool:
        """Whether the header holds `column` (in any case)."""
        return column.lower() in self.columns

    def value_columns(self, attribute: str, locales: Iterable[str] = ()) -> dict[Scope, str]:
        """Scope -> column of every value column of `attribute` in this header."""
        attribute = attribute.lower()
        found: dict[Scope, str] = {}
        for column in self.columns:
            code, *parts = column.split("-")
            if code != attribute:
                continue
            scope = scope_of_suffix(parts, locales)
            if scope is not None:
                found[scope] = column
        return found


def read_header(cells: Sequence[str], file: str) -> ExportHeader:
    """The header of an export file; BatchFileError (line 1) when it is empty or made of labels."""
    given = [cell.replace("\ufeff", "").strip() for cell in cells]
    columns = tuple(cell.lower() for cell in given)
    if not any(columns):
        raise BatchFileError(file, "the export has no header line", line=1)
    labels = [
        cell
        for cell, column in zip(given, columns, strict=True)
        if column and (not _CODE_CELL.fullmatch(column) or (column in FIXED_COLUMNS and cell != column))
    ]
    if labels:
        raise BatchFileError(file, f"{REASON_HEADER_WITH_LABEL} (first: {labels[0][:80]!r})", line=1)
    return ExportHeader(file, columns)


def check_enabled_cells(values: Iterable[str], lines: Iterable[int], file: str) -> None:
    """BatchFileError naming the first line whose `enabled` cell is not 1/0 (a `with_label` export)."""
    for value, line in zip(values, lines, strict=False):
        if value.strip() not in BOOLEAN_CELLS:
            raise BatchFileError(
                file, REASON_WITH_LABEL.format(value=value[:40]) + " (field enabled)", line=int(line)
            )
