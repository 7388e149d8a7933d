"""Set-based statements built once per chunk from column arrays, executed as plain driver SQL.

They are multi-row INSERT, upsert (ON DUPLICATE KEY UPDATE / ON CONFLICT) and bulk UPDATE.

MySQL/MariaDB: values are written as SQL literals with the driver's own escaping (pymysql's
`Connection.escape`, which honours NO_BACKSLASH_ESCAPES), statements split to stay below the packet size.
SQLite: `?` parameters, statements split to stay below the bound-variable limit.

New auto-increment ids come without a re-select where the database guarantees consecutive ids for a
multi-row INSERT: MySQL/MariaDB with `innodb_autoinc_lock_mode` 0 or 1 (first id from the driver, step
`auto_increment_increment`), SQLite (a new rowid is the largest rowid + 1 until the largest possible rowid is
used, and the transaction holds the database's write lock; the driver reports the last id). Otherwise
`insert_with_ids` returns None and the caller re-selects. Every insert checks that the driver reports as many
rows as were sent.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import sqlalchemy as sa

# Client-side packet cap (pymysql's default max_allowed_packet is 16 MiB); a margin for the statement head.
MAX_STATEMENT_BYTES = 16 * 1024 * 1024
STATEMENT_MARGIN_BYTES = 64 * 1024
# Rows per bulk UPDATE statement (a UNION ALL of thousands of SELECTs stays cheap to plan; more does not
# help).
MAX_UPDATE_ROWS = 5000
SQLITE_DEFAULT_VARIABLES = 999


@dataclass(frozen=True)
class Sql:
    """A SQL expression written as is (never escaped), the same for every row, e.g. CURRENT_TIMESTAMP."""

    text: str


NOW = Sql("CURRENT_TIMESTAMP")

Column: TypeAlias = pd.Series | np.ndarray | Sequence[Any] | Sql | int | str | None


@dataclass(frozen=True)
class BulkSettings:
    """What a database allows, read once per engine."""

    dialect: str
    consecutive_ids: bool
    id_step: int = 1
    max_statement_bytes: int = MAX_STATEMENT_BYTES
    max_variables: int = SQLITE_DEFAULT_VARIABLES


SETTINGS_CACHE: weakref.WeakKeyDictionary[sa.Engine, BulkSettings] = weakref.WeakKeyDictionary()


def settings(conn: sa.Connection) -> BulkSettings:
    """The engine's BulkSettings, read once through the driver's own cursor.

    This is a setting look-up, not a statement of the chunk's work: the statement counter does not see it.
    """
    engine = conn.engine
    found = SETTINGS_CACHE.get(engine)
    if found is None:
        found = _read_settings(conn)
        SETTINGS_CACHE[engine] = found
    return found


def _read_settings(conn: sa.Connection) -> BulkSettings:
    dbapi: Any = conn.connection.dbapi_connection
    name = conn.dialect.name
    if name in ("mysql", "mariadb"):
        cursor = dbapi.cursor()
        try:
            cursor.execute(
                "SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment, @@max_allowed_packet"
            )
            mode, step, packet = cursor.fetchone()
        finally:
            cursor.close()
        size = min(int(packet), MAX_STATEMENT_BYTES) - STATEMENT_MARGIN_BYTES
        return BulkSettings(
            "mysql", consecutive_ids=int(mode) in (0, 1), id_step=int(step), max_statement_bytes=size
        )
    if name == "sqlite":
        import sqlite3

        limit = (
            dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            if hasattr(dbapi, "getlimit")
            else (SQLITE_DEFAULT_VARIABLES)
        )
        return BulkSettings("sqlite", consecutive_ids=True, max_variables=int(limit))
    raise NotImplementedError(f"bulk_sql supports MySQL/MariaDB and SQLite, not {name}")


# ------------------------------------------------------------------------------------------------------
# Columns


def _columns(*mappings: Mapping[str, Column]) -> tuple[list[tuple[str, Any]], int]:
    """(name, column) pairs (sequences as Series, scalars and Sql kept for broadcasting) and the row count."""
    n = None
    out: list[tuple[str, Any]] = []
    for name, values in (pair for mapping in mappings for pair in mapping.items()):
        if isinstance(values, (pd.Series, np.ndarray, list, tuple)):
            size = len(values)
            if n is not None and size != n:
                raise ValueError(f"column {name!r} has {size} values, expected {n}")
            n = size
            values = (
                values
                if isinstance(values, pd.Series)
                else pd.Series(values, dtype=object if isinstance(values, (list, tuple)) else None)
            )
        out.append((name, values))
    return out, n or 0


def _plain(value: Any) -> Any:
    """A driver-native Python value: numpy scalars unwrapped, NaN/NA/NaT as None, Timestamps as datetime."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def _mysql_texts(values: Any, n: int, escape: Any) -> list[str]:
    """SQL literals of one column (n rows), escaped by the driver."""
    if isinstance(values, Sql):
        return [values.text] * n
    if not isinstance(values, pd.Series):
        return [escape(_plain(values))] * n
    kind = values.dtype.kind
    if kind in "iu" and not values.hasnans:
        return values.to_numpy(dtype="int64").astype(str).tolist()
    if kind == "b" and not values.hasnans:
        return np.where(values.to_numpy(dtype=bool), "1", "0").tolist()
    return [escape(v) if type(v) is str else escape(_plain(v)) for v in values.tolist()]


def _sqlite_values(values: Any, n: int, process: Any) -> list[Any]:
    """Bound values of one column (n rows) for sqlite3, through the column type's bind processor."""
    if not isinstance(values, pd.Series):
        items = [_plain(values)] * n
    elif values.dtype.kind in "iu" and not values.hasnans:
        items = values.to_numpy(dtype="int64").tolist()
    else:
        items = [_plain(v) for v in values.tolist()]
    if process is not None:
        items = [None if v is None else process(v) for v in items]
    return items


# ------------------------------------------------------------------------------------------------------
# Statements


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _execute(conn: sa.Connection, sql: str, params: tuple[Any, ...] | None = None) -> sa.CursorResult[Any]:
    """Driver SQL, counted like every statement.

    Without parameters the driver formats nothing (a `%` in a literal stays as it is).
    """
    if params is None:
        return conn.exec_driver_sql(sql, execution_options={"no_parameters": True})
    return conn.exec_driver_sql(sql, params)


def _mysql_rows(
    conn: sa.Connection, columns: list[tuple[str, Any]], n: int
) -> tuple[list[list[str]], list[str]]:
    """Literals per column and the rows as `(lit,lit,...)` texts."""
    escape = conn.connection.dbapi_connection.escape  # type: ignore[union-attr]
    texts = [_mysql_texts(v, n, escape) for _name, v in columns]
    return texts, ["(" + ",".join(r) + ")" for r in zip(*texts, strict=True)]


def _groups(rows: list[str], budget: int, max_rows: int | None = None) -> Iterator[range]:
    """Consecutive ranges of rows whose texts (UTF-8 bytes) fit in `budget`, at most `max_rows` each."""
    start = 0
    size = 0
    for i, row in enumerate(rows):
        length = (len(row) if row.isascii() else len(row.encode("utf-8"))) + 1
        if i > start and (size + length > budget or (max_rows is not None and i - start >= max_rows)):
            yield range(start, i)
            start, size = i, 0
        size += length
    if start < len(rows):
        yield range(start, len(rows))


def _sqlite_row_groups(
    table: sa.Table,
    conn: sa.Connection,
    columns: list[tuple[str, Any]],
    n: int,
    limits: BulkSettings,
    max_rows: int | None = None,
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(rows, flat parameters) per statement, below SQLite's bound-variable limit (Sql columns are inline)."""
    values = []
    for name, col in columns:
        if isinstance(col, Sql):
            continue
        process = table.c[name].type._cached_bind_processor(conn.dialect) if name in table.c else None
        values.append(_sqlite_values(col, n, process))
    rows = list(zip(*values, strict=True))
    step = max(1, limits.max_variables // max(1, len(values)))
    if max_rows is not None:
        step = min(step, max_rows)
    for start in range(0, n, step):
        part = rows[start : start + step]
        yield len(part), tuple(v for row in part for v in row)


def _sqlite_marks(columns: list[tuple[str, Any]]) -> str:
    return "(" + ", ".join(c.text if isinstance(c, Sql) else "?" for _name, c in columns) + ")"


def _insert_statements(
    conn: sa.Connection,
    table: sa.Table,
    columns: Mapping[str, Column],
    tail: str = "",
) -> Iterator[tuple[str, tuple[Any, ...] | None, int]]:
    """(sql, parameters or None, rows) of each multi-row INSERT of `columns` (+ `tail`, e.g. an upsert)."""
    cols, n = _columns(columns)
    if n == 0:
        return
    limits = settings(conn)
    names = ", ".join(_quote(conn, c) for c, _values in cols)
    head = f"INSERT INTO {_quote(conn, table.name)} ({names}) VALUES "
    if limits.dialect == "mysql":
        _texts, rows = _mysql_rows(conn, cols, n)
        for part in _groups(rows, limits.max_statement_bytes - len(head) - len(tail)):
            yield head + ",".join(rows[part.start : part.stop]) + tail, None, len(part)
    else:
        marks = _sqlite_marks(cols)
        for count, params in _sqlite_row_groups(table, conn, cols, n, limits):
            yield head + ", ".join([marks] * count) + tail, params, count


def insert(conn: sa.Connection, table: sa.Table, columns: Mapping[str, Column]) -> int:
    """Plain multi-row INSERT of the column arrays; returns the rows inserted."""
    done = 0
    for sql, params, _rows in _insert_statements(conn, table, columns):
        done += _execute(conn, sql, params).rowcount
    return done


def insert_with_ids(conn: sa.Connection, table: sa.Table, columns: Mapping[str, Column]) -> np.ndarray | None:
    """Multi-row INSERT; the new auto-increment ids in row order, or None.

    None when the database does not guarantee consecutive ids (the rows are inserted all the same: the caller
    re-selects them).
    """
    limits = settings(conn)
    ids: list[np.ndarray] = []
    consecutive = limits.consecutive_ids
    for sql, params, rows in _insert_statements(conn, table, columns):
        result = _execute(conn, sql, params)
        if not consecutive:
            continue
        if result.rowcount != rows or not result.lastrowid:
            consecutive = False
            continue
        last = int(result.lastrowid)
        first = last - (rows - 1) if limits.dialect == "sqlite" else last
        ids.append(first + limits.id_step * np.arange(rows, dtype="int64"))
    if not consecutive:
        return None
    return np.concatenate(ids) if ids else np.empty(0, dtype="int64")


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    columns: Mapping[str, Column],
    keys: Sequence[str],
    update: Sequence[str],
    touch: str | None = None,
) -> None:
    """INSERT ... ON DUPLICATE KEY UPDATE (MySQL/MariaDB) / ON CONFLICT (keys) DO UPDATE (SQLite).

    On a real unique key: `update` columns take the new values, `touch` is set to CURRENT_TIMESTAMP.
    """
    q = conn.dialect.identifier_preparer.quote
    if settings(conn).dialect == "mysql":
        sets = [f"{q(c)} = VALUES({q(c)})" for c in update] or [f"{q(keys[0])} = {q(keys[0])}"]
        if touch:
            sets.append(f"{q(touch)} = CURRENT_TIMESTAMP")
        tail = " ON DUPLICATE KEY UPDATE " + ", ".join(sets)
    else:
        sets = [f"{q(c)} = excluded.{q(c)}" for c in update]
        if touch:
            sets.append(f"{q(touch)} = CURRENT_TIMESTAMP")
        conflict = f" ON CONFLICT ({', '.join(q(k) for k in keys)}) DO "
        tail = conflict + ("UPDATE SET " + ", ".join(sets) if sets else "NOTHING")
    for sql, params, _rows in _insert_statements(conn, table, columns, tail):
        _execute(conn, sql, params)


def update(
    conn: sa.Connection, table: sa.Table, keys: Mapping[str, Column], values: Mapping[str, Column]
) -> None:
    """Set `table.<name> = values[name]` on the rows where every `table.<key> = keys[key]`.

    Row by row of the arrays: MySQL/MariaDB `UPDATE t JOIN (SELECT .. UNION ALL ..) v`, SQLite
    `UPDATE t SET .. FROM (VALUES ..) v`. (A CASE on thousands of keys is quadratic on MySQL; the join is
    not.)
    """
    cols, n = _columns(keys, values)
    if n == 0:
        return
    q = conn.dialect.identifier_preparer.quote
    limits = settings(conn)
    name = q(table.name)
    if limits.dialect == "mysql":
        aliases = [f"k{j}" for j in range(len(keys))] + [f"c{j}" for j in range(len(values))]
        on = " AND ".join(f"t.{q(k)} = v.k{j}" for j, k in enumerate(keys))
        sets = ", ".join(f"t.{q(c)} = v.c{j}" for j, c in enumerate(values))
        tail = f") AS v ON {on} SET {sets}"
        head = f"UPDATE {name} AS t JOIN (SELECT "
        texts, rows = _mysql_rows(conn, cols, n)
        budget = limits.max_statement_bytes - len(head) - len(tail) - 64 * len(aliases)
        for part in _groups(rows, budget, MAX_UPDATE_ROWS):
            first = ", ".join(f"{col[part.start]} AS {a}" for col, a in zip(texts, aliases, strict=True))
            rest = "".join(" UNION ALL SELECT " + row[1:-1] for row in rows[part.start + 1 : part.stop])
            _execute(conn, head + first + rest + tail)
        return
    on = " AND ".join(f"{name}.{q(k)} = v.column{j + 1}" for j, k in enumerate(keys))
    sets = ", ".join(f"{q(c)} = v.column{len(keys) + j + 1}" for j, c in enumerate(values))
    marks = _sqlite_marks(cols)
    for count, params in _sqlite_row_groups(table, conn, cols, n, limits, MAX_UPDATE_ROWS):
        rows_sql = ", ".join([marks] * count)
        _execute(conn, f"UPDATE {name} SET {sets} FROM (VALUES {rows_sql}) AS v WHERE {on}", params)
