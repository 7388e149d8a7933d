"""Connection to Magento's database: engine, tables, attribute ids, the writer lock and a statement counter.

One `MagentoDatabase` per run. Writers serialise on `writer_lock()` because media_gallery has no unique key
on (attribute_id, value): two concurrent writers could insert the same path twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import sqlalchemy as sa

from nacento_pipeline.core.frames import ROLE_LABEL_CODES
from nacento_pipeline.core.retry import TransientError
from nacento_pipeline.magento.schema import (
    MagentoTables,
    SchemaError,
    build_tables,
    create_own_tables,
    detect_link_column,
    media_image_attribute_ids,
)

GALLERY_ATTRIBUTE = "media_gallery"
PRODUCT_ENTITY_TYPE = "catalog_product"
DEFAULT_LOCK_TIMEOUT_SECONDS = 60
SQLITE_BUSY_TIMEOUT_SECONDS = 30
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
log = logging.getLogger(__name__)


class WriterLockTimeout(TimeoutError):
    """Another writer held the gallery writer lock longer than the timeout (names the lock)."""

    def __init__(self, lock_name: str, timeout: float) -> None:
        super().__init__(f"gallery writer lock {lock_name!r} not acquired within {timeout:g}s (timeout)")
        self.lock_name = lock_name


class WriterLockLost(TransientError, RuntimeError):
    """The writer's MySQL session no longer holds the gallery writer lock: the transaction was rolled back."""

    def __init__(self, lock_name: str, holder: object) -> None:
        who = "nobody" if holder is None else f"session {holder}"
        super().__init__(
            f"gallery writer lock lost: {lock_name!r} is now held by {who}; "
            "the chunk was rolled back, nothing of it was written"
        )
        self.lock_name = lock_name


@dataclass(frozen=True)
class AttributeIds:
    """Attribute ids of this install, looked up once per run: media_gallery, the roles and the role labels.

    The roles are every media_image attribute, in core.delta.roles.ordered_roles order; the role labels are
    `image_label`, `small_image_label`, `thumbnail_label` (the storefront's alt text).
    """

    media_gallery: int
    roles: dict[str, int]
    labels: dict[str, int] = field(default_factory=dict)

    def varchar_codes(self) -> dict[str, int]:
        """Every varchar attribute the writer reads and writes: roles and labels (code -> id)."""
        return {**self.roles, **self.labels}


class StatementCounter:
    """Counts statements the driver executes (total and INSERT/UPDATE/DELETE), via `before_cursor_execute`.

    An executemany of INSERTs counts as one statement (pymysql folds it into multi-row INSERTs); an
    executemany of UPDATE/DELETE counts once per parameter set, as the driver runs them one by one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.writes = 0

    def on_execute(self, conn, cursor, statement: str, parameters, context, executemany: bool) -> None:
        """Count one statement (the `before_cursor_execute` listener)."""
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        n = len(parameters) if executemany and verb != "INSERT" and parameters else 1
        with self._lock:
            self.total += n
            if verb in _WRITE_VERBS:
                self.writes += n

    def snapshot(self) -> tuple[int, int]:
        """(total, write) statements counted so far."""
        with self._lock:
            return self.total, self.writes


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


def ensure_crc32(conn: sa.Connection) -> None:
    """Give a SQLite connection MySQL's CRC32 (zlib's: the same checksum of the same UTF-8 bytes).

    The aggregate digests of the writer's fingerprint and of the post-write check thereby run in SQL on both.
    Registered on the connection in hand, since a pooled connection may predate this database's connect
    listener.
    """
    if conn.dialect.name == "sqlite":
        conn.connection.dbapi_connection.create_function(  # type: ignore[union-attr]
            "crc32",
            1,
            lambda text: None if text is None else zlib.crc32(str(text).encode()),
            deterministic=True,
        )


class DatabaseUrlError(ValueError):
    """The Magento database URL cannot be used; the message never contains the URL or any part of it."""


def parse_database_url(url: str) -> sa.URL:
    """The URL parsed, refusing what would put a piece of the password into later errors.

    That is an unparsable URL (SQLAlchemy's error repeats the whole string) and an unencoded `@` in the
    password (the text after it would be taken for the host and shown in every connection error).
    """
    try:
        sa_url = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise DatabaseUrlError(
            "NACENTO_MAGENTO_DB_URL is not a valid SQLAlchemy URL (value not shown)"
        ) from None
    if sa_url.host and "@" in sa_url.host:
        raise DatabaseUrlError(
            "NACENTO_MAGENTO_DB_URL: the host part contains '@', "
            "so the password (or user name) holds an unencoded '@': "
            "percent-encode it as %40 (value not shown)"
        )
    return sa_url


@dataclass(frozen=True)
class DatabaseTimeouts:
    """MySQL/MariaDB time limits, in seconds.

    Opening a connection, waiting for an answer (a half-open connection or a stuck server fails with error
    2013 after it, instead of hanging the run with the pool slot and the writer lock), sending a statement,
    and every session's lock waits (`innodb_lock_wait_timeout` for row locks, `lock_wait_timeout` for metadata
    locks: a statement waiting longer fails with error 1205).
    """

    connect: int = 10
    read: int = 600
    write: int = 600
    lock_wait: int = 50

    def connect_args(self, driver: str) -> dict[str, int]:
        """The driver's connect arguments (pymysql and mysqlclient name them alike; other drivers: none)."""
        if driver not in ("pymysql", "mysqldb"):
            return {}
        return {"connect_timeout": self.connect, "read_timeout": self.read, "write_timeout": self.write}

    def session_statement(self) -> str:
        """The SET SESSION statement of both lock-wait timeouts, run on every new connection."""
        return (
            f"SET SESSION innodb_lock_wait_timeout = {int(self.lock_wait)}, "
            f"lock_wait_timeout = {int(self.lock_wait)}"
        )


def create_magento_engine(url: str, timeouts: DatabaseTimeouts | None = None) -> sa.Engine:
    """Engine with pre-ping, and each database's time limits.

    SQLite with foreign keys on and a busy timeout; MySQL/MariaDB with the connection's timeouts and each
    session's lock-wait timeouts (`DatabaseTimeouts`).
    """
    sa_url = parse_database_url(url)
    if sa_url.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            sa_url, pool_pre_ping=True, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    limits = timeouts or DatabaseTimeouts()
    engine = sa.create_engine(
        sa_url,
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args=limits.connect_args(sa_url.get_driver_name()),
    )
    if sa_url.get_backend_name() in ("mysql", "mariadb"):
        sa.event.listen(engine, "connect", partial(_session_limits, limits.session_statement()))
    return engine


def _session_limits(statement: str, dbapi_connection, connection_record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute(statement)
    cursor.close()


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(name: str) -> threading.Lock:
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(name, threading.Lock())


class MagentoDatabase:
    """Magento's database as the sync engine sees it."""

    def __init__(
        self,
        url_or_engine: str | sa.Engine,
        prefix: str = "",
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
        timeouts: DatabaseTimeouts | None = None,
    ) -> None:
        self.engine = (
            url_or_engine
            if isinstance(url_or_engine, sa.Engine)
            else create_magento_engine(url_or_engine, timeouts)
        )
        if self.engine.dialect.name == "sqlite" and isinstance(url_or_engine, sa.Engine):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.prefix = prefix
        self.lock_timeout = lock_timeout
        self.counter = StatementCounter()
        sa.event.listen(self.engine, "before_cursor_execute", self.counter.on_execute)
        self._tables: MagentoTables | None = None
        self._attribute_ids: AttributeIds | None = None
        self._link_keys: dict[str, str | None] = {}

    @property
    def dialect(self) -> str:
        """SQLAlchemy's dialect name: `mysql`, `mariadb` or `sqlite`."""
        return self.engine.dialect.name

    @property
    def is_mysql(self) -> bool:
        """True on MySQL or MariaDB."""
        return self.dialect in ("mysql", "mariadb")

    @property
    def tables(self) -> MagentoTables:
        """Tables with the link column detected once (entity_id, or row_id on Adobe Commerce)."""
        if self._tables is None:
            link = detect_link_column(self.engine, self.prefix)
            self._tables = build_tables(self.prefix, link=link, dialect_name=self.dialect)
        return self._tables

    def refresh_schema(self) -> None:
        """Forget detected schema facts (after creating tables)."""
        self._tables = None
        self._attribute_ids = None
        self._link_keys = {}

    def link_key_hint(self, table: sa.Table) -> str | None:
        """`FORCE INDEX (<name>)` for MySQL/MariaDB naming `table`'s unique key led by the link column.

        The key is Magento's `<table>_ENTITY_ID_ATTRIBUTE_ID_STORE_ID`, or its row_id form, looked up once;
        None on other databases or when there is none. For statements selecting a chunk of products by an id
        list right after a big write: the table's statistics may still be those of the nearly empty table, and
        the optimizer then scans the whole table for every chunk.
        """
        if not self.is_mysql:
            return None
        if table.name not in self._link_keys:
            query = sa.text(
                "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = :table AND COLUMN_NAME = :column AND SEQ_IN_INDEX = 1 AND NON_UNIQUE = 0 "
                "ORDER BY INDEX_NAME LIMIT 1"
            )
            with self.engine.connect() as conn:
                name = conn.execute(query, {"table": table.name, "column": self.tables.link}).scalar()
            quoted = self.engine.dialect.identifier_preparer.quote_identifier(str(name)) if name else None
            self._link_keys[table.name] = f"FORCE INDEX ({quoted})" if quoted else None
        return self._link_keys[table.name]

    def ensure_own_tables(self) -> None:
        """Create our own tables when missing, then read the schema again."""
        create_own_tables(self.engine, self.prefix)
        self.refresh_schema()

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()

    def statements(self) -> tuple[int, int]:
        """(total, write) statements executed so far on this database."""
        return self.counter.snapshot()

    def attribute_ids(self) -> AttributeIds:
        """media_gallery, the role attributes and the role labels of catalog_product, looked up once.

        The role attributes are every media_image attribute (schema.media_image_attribute_ids). SchemaError
        without media_gallery or without Magento_Catalog's own roles image, small_image and thumbnail;
        swatch_image may be absent.
        """
        if self._attribute_ids is None:
            t = self.tables
            wanted = (GALLERY_ATTRIBUTE, *ROLE_LABEL_CODES.values())
            query = (
                sa.select(t.attribute.c.attribute_code, t.attribute.c.attribute_id)
                .join(t.entity_type, t.entity_type.c.entity_type_id == t.attribute.c.entity_type_id)
                .where(t.entity_type.c.entity_type_code == PRODUCT_ENTITY_TYPE)
                .where(t.attribute.c.attribute_code.in_(wanted))
            )
            try:
                with self.engine.connect() as conn:
                    found = {code: int(aid) for code, aid in conn.execute(query)}
                    roles = media_image_attribute_ids(conn, t)
            except sa.exc.DBAPIError as exc:
                raise SchemaError(t.attribute.name, f"cannot read attribute ids: {exc}") from exc
            missing = [code for code in (GALLERY_ATTRIBUTE,) if code not in found]
            missing += [code for code in ROLE_LABEL_CODES if code not in roles]
            if missing:
                raise SchemaError(
                    t.attribute.name, f"catalog_product attributes missing: {', '.join(missing)}"
                )
            labels = {c: found[c] for c in ROLE_LABEL_CODES.values() if c in found}
            self._attribute_ids = AttributeIds(found[GALLERY_ATTRIBUTE], roles, labels)
        return self._attribute_ids

    # -- writer lock -------------------------------------------------------------------------------------
    def lock_name(self) -> str:
        """The writer lock's name: one per database and table prefix, within MySQL's 64 characters."""
        if self.dialect == "sqlite":
            return f"sqlite:{self.engine.url.database or ':memory:'}:{self.prefix}"
        with self.engine.connect() as conn:
            database = conn.execute(sa.text("SELECT DATABASE()")).scalar() or ""
        name = f"nacento_gallery:{database}:{self.prefix}"
        # MySQL lock names are limited to 64 characters.
        return name if len(name) <= 64 else "nacento_gallery:" + hashlib.sha1(name.encode()).hexdigest()

    @contextlib.contextmanager
    def writer_lock(self, timeout: float | None = None) -> Iterator[WriterSession]:
        """Serialise gallery writers; write through the yielded session's `transaction()`.

        MySQL: GET_LOCK on the very connection that carries the writes, so the lock cannot be lost while a
        transaction goes on (see `WriterSession`). SQLite: an exclusive file lock. A release failure after
        the work is logged, never raised: the server frees a lock whose session is gone.
        """
        timeout = self.lock_timeout if timeout is None else timeout
        name = self.lock_name()
        local = _process_lock(name)
        if not local.acquire(timeout=timeout):
            raise WriterLockTimeout(name, timeout)
        try:
            if self.is_mysql:
                session = WriterSession(self, name, timeout)
                try:
                    session.acquire()
                    yield session
                finally:
                    session.release()
            elif self.dialect == "sqlite":
                with self._file_lock(name, timeout):
                    yield WriterSession(self, name, timeout)
            else:
                yield WriterSession(self, name, timeout)
        finally:
            local.release()

    @contextlib.contextmanager
    def _file_lock(self, name: str, timeout: float) -> Iterator[None]:
        database = self.engine.url.database
        if not database or database == ":memory:":
            yield  # in-memory: the process lock is enough
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: the process lock only
            yield
            return
        path = Path(f"{database}.nacento-writer.lock")
        deadline = time.monotonic() + timeout
        with open(path, "a+") as handle:
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WriterLockTimeout(name, timeout) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class WriterSession:
    """The holder of the gallery writer lock; every write transaction goes through `transaction()`.

    MySQL/MariaDB: the lock is taken with GET_LOCK on one connection and every transaction runs on that same
    connection. A session that dies (KILL, network, server restart) loses its lock and its open transaction
    together: the chunk rolls back, the error is retriable, and the next transaction takes the lock again on
    a new connection (the writer re-reads each chunk under the lock, so what another writer did in between
    is seen). Before each commit `IS_USED_LOCK(name) = CONNECTION_ID()` is checked once more; a session that
    does not hold the lock raises `WriterLockLost` (retriable) and its transaction rolls back; the next
    transaction waits for the lock on a new session. Other dialects: a plain
    transaction (SQLite is serialised by the file lock held around the session).
    """

    def __init__(self, db: MagentoDatabase, name: str, timeout: float) -> None:
        self.db = db
        self.name = name
        self.timeout = timeout
        self._conn: sa.Connection | None = None
        self.acquisitions = 0

    def acquire(self) -> sa.Connection:
        """The live lock-holding connection (MySQL), taking the lock on a new connection when it was lost."""
        if self._conn is not None and not self._conn.invalidated and not self._conn.closed:
            return self._conn
        self._drop()
        conn = self.db.engine.connect()
        try:
            got = conn.execute(
                sa.text("SELECT GET_LOCK(:name, :timeout)"), {"name": self.name, "timeout": int(self.timeout)}
            ).scalar()
            conn.commit()
        except BaseException:
            conn.close()
            raise
        if got != 1:
            conn.close()
            raise WriterLockTimeout(self.name, self.timeout)
        self._conn = conn
        self.acquisitions += 1
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One transaction under the lock: committed when the block ends, rolled back on any error."""
        if not self.db.is_mysql:
            with self.db.engine.begin() as conn:
                yield conn
            return
        conn = self.acquire()
        try:
            with conn.begin():
                yield conn
                holder = conn.execute(
                    sa.text("SELECT IS_USED_LOCK(:name), CONNECTION_ID()"), {"name": self.name}
                ).one()
                if holder[0] != holder[1]:
                    raise WriterLockLost(self.name, holder[0])
        except WriterLockLost:
            self._drop()  # the next transaction waits for the lock on a new session
            raise
        except BaseException:
            if conn.invalidated or conn.closed:
                self._drop()
            raise

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def release(self) -> None:
        """RELEASE_LOCK; a failure (session gone) is logged and the connection discarded, never raised."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not conn.invalidated and not conn.closed:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": self.name})
                conn.commit()
                conn.close()
                return
        except Exception as exc:  # noqa: BLE001 - the work is done; the server frees a dead session's lock
            log.warning(
                "gallery writer lock %r: release failed (%s); the server frees it with the session",
                self.name,
                type(exc).__name__,
            )
        with contextlib.suppress(Exception):
            conn.invalidate()
        with contextlib.suppress(Exception):
            conn.close()
