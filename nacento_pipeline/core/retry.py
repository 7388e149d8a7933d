"""Retriable-error classification, the backoff schedule and the one retry loop.

The classification is the connector's "Errors and retries" rule.

Pure: an error is classified by its class and the code its driver gave it, never by its message, which can
hold payload text (a label "timeout" in a statement's parameters, a SKU in a duplicate-key message). The
drivers are recognised by their exception classes' modules and attributes, without importing them:

- our own transient errors subclass `TransientError` (the writer lock lost, a cache request to try again);
- Python's `ConnectionError` and `TimeoutError` families (sockets, the writer lock not acquired in time);
- MySQL/MariaDB errors (pymysql, mysqlclient, mysql-connector) by the numeric code in `args[0]`;
- SQLite by `sqlite_errorcode` (busy, locked);
- SQLAlchemy's wrappers by their `.orig` driver error (walked by `error_chain`), plus a connection it
  invalidated, its pool timeout and its disconnection error;
- botocore by the S3 error code of a `ClientError` (or its HTTP status) and by its connection/timeout classes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar


class TransientError(Exception):
    """Base of this package's own errors for a transient condition: trying again can succeed."""


class StepFailed(RuntimeError):
    """A step's failure as reported (cut, without SQL literal values: core.failure_text); permanent."""


class TransientStepFailed(StepFailed, TransientError):
    """A step's failure as reported, for a transient cause: the catch-up runs the batch again."""


# MySQL / MariaDB error codes of a transient condition (server and client codes).
MYSQL_RETRIABLE_CODES = frozenset(
    {
        1040,  # ER_CON_COUNT_ERROR: too many connections
        1053,  # ER_SERVER_SHUTDOWN
        1205,  # ER_LOCK_WAIT_TIMEOUT (row locks, and metadata locks under lock_wait_timeout)
        1213,  # ER_LOCK_DEADLOCK
        1927,  # MariaDB ER_CONNECTION_KILLED
        2002,  # CR_CONNECTION_ERROR (socket)
        2003,  # CR_CONN_HOST_ERROR: cannot connect
        2006,  # CR_SERVER_GONE_ERROR
        2013,  # CR_SERVER_LOST (also pymysql's read/write timeout)
        2055,  # CR_SERVER_LOST_EXTENDED
    }
)
# SQLite primary result codes (the low byte of `sqlite_errorcode`): SQLITE_BUSY, SQLITE_LOCKED.
SQLITE_RETRIABLE_CODES = frozenset({5, 6})
# S3 error codes of a transient condition, and HTTP statuses that mean "try again".
S3_RETRIABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "PriorRequestNotComplete",
    }
)
HTTP_RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# botocore / urllib3 classes of a connection that failed or timed out (their own hierarchies, not Python's).
CLIENT_TRANSIENT_CLASSES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ProxyConnectionError",
        "NewConnectionError",
        "ProtocolError",
    }
)
DRIVER_MODULES = ("pymysql", "MySQLdb", "mysql", "mariadb")

DEFAULT_ATTEMPTS = 3
DEFAULT_BASE_DELAY_SECONDS = 0.2


def error_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes/contexts and wrapped driver errors (`.orig`), each once."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__, getattr(current, "orig", None)):
            if isinstance(linked, BaseException):
                stack.append(linked)


def _module_root(exc: BaseException) -> str:
    return type(exc).__module__.split(".", 1)[0]


def driver_error_code(exc: BaseException) -> int | None:
    """The MySQL/MariaDB error code of a driver exception (`args[0]`), None for any other exception."""
    if _module_root(exc) in DRIVER_MODULES and exc.args and isinstance(exc.args[0], int):
        return exc.args[0]
    return None


def _s3_error_retriable(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    error, meta = response.get("Error") or {}, response.get("ResponseMetadata") or {}
    return error.get("Code") in S3_RETRIABLE_CODES or meta.get("HTTPStatusCode") in HTTP_RETRIABLE_STATUSES


def _one_retriable(exc: BaseException) -> bool:
    if isinstance(exc, (TransientError, ConnectionError, TimeoutError)):
        return True
    root = _module_root(exc)
    if root in DRIVER_MODULES:
        return driver_error_code(exc) in MYSQL_RETRIABLE_CODES
    if root == "sqlite3":
        code = getattr(exc, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in SQLITE_RETRIABLE_CODES
    if root == "sqlalchemy":
        return getattr(exc, "connection_invalidated", False) is True or type(exc).__name__ in (
            "TimeoutError",
            "DisconnectionError",
        )
    if root in ("botocore", "urllib3"):
        names = {cls.__name__ for cls in type(exc).__mro__}
        return bool(names & CLIENT_TRANSIENT_CLASSES) or _s3_error_retriable(exc)
    return False


def is_retriable(exc: BaseException) -> bool:
    """True when an error of the chain is transient by its class or driver code; else it is permanent."""
    return any(_one_retriable(current) for current in error_chain(exc))


# A recorded error (a failed run's step error, kept by Dagster as class names and messages): the class names
# that say "transient", and MySQL's code where a driver (or SQLAlchemy wrapping it) put it: at the very start
# of the message, `(1205, '...')` or `(pymysql.err.OperationalError) (1205, '...')`, before any payload text.
RECORDED_TRANSIENT_CLASSES = (
    frozenset(
        {
            TransientStepFailed.__name__,
            "TransientCacheError",
            "WriterLockLost",
            "WriterLockTimeout",
            "ConnectionError",
            "ConnectionRefusedError",
            "ConnectionResetError",
            "ConnectionAbortedError",
            "BrokenPipeError",
            "TimeoutError",
        }
    )
    | CLIENT_TRANSIENT_CLASSES
)
_RECORDED_DRIVER_CODE = re.compile(r"\A(?:\([\w.]+\) )?\((\d+), ")
DRIVER_ERROR_CLASSES = frozenset({"OperationalError", "InternalError", "InterfaceError", "DatabaseError"})


def recorded_error_retriable(chain: Sequence[tuple[str, str]]) -> bool:
    """The same rule for an error known only as recorded: (class name, message) of it and of its causes."""
    for class_name, message in chain:
        if class_name in RECORDED_TRANSIENT_CLASSES:
            return True
        code = _RECORDED_DRIVER_CODE.match(message) if class_name in DRIVER_ERROR_CLASSES else None
        if code is not None and int(code.group(1)) in MYSQL_RETRIABLE_CODES:
            return True
    return False


def run_failure_is_permanent(step_errors: Sequence[Sequence[tuple[str, str]]]) -> bool:
    """Whether a failed run must not be run again for the same drop.

    True when some step failed (each error as its recorded chain of (class name, message)) and none of them
    for a transient cause. A run that failed with
    no step error (its worker was killed, the host restarted, monitoring marked it failed) is retriable:
    running it again can succeed, while a parse error of an immutable archived batch, an unknown table or a
    bad config cannot.
    """
    return bool(step_errors) and not any(recorded_error_retriable(chain) for chain in step_errors)


def backoff_delays(attempts: int = DEFAULT_ATTEMPTS, base: float = DEFAULT_BASE_DELAY_SECONDS) -> list[float]:
    """Sleep before each retry: base, 2*base, 4*base, ... (attempts - 1 delays)."""
    return [base * (2**i) for i in range(max(0, attempts - 1))]


T = TypeVar("T")


def retry_call(
    work: Callable[[], T],
    delays: Sequence[float],
    retriable: Callable[[Exception], bool] = is_retriable,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[int, Exception], None] | None = None,
) -> tuple[T, int]:
    """`work()`, run again after each delay of `delays` while it fails with a retriable error.

    Returns (result, retries made). The last failure, or a failure that is not retriable, is raised.
    """
    for retries, delay in enumerate(delays):
        try:
            return work(), retries
        except Exception as exc:
            if not retriable(exc):
                raise
            if on_retry is not None:
                on_retry(retries + 1, exc)
            (sleep or time.sleep)(delay)
    return work(), len(delays)
