"""The one retry loop (core.retry.retry_call) the gallery writer and the cache step share."""

from __future__ import annotations

import pytest

from nacento_pipeline.core.retry import backoff_delays, retry_call


def _failing(times: int, error: Exception):
    calls = []

    def work() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return work, calls


def test_a_retriable_failure_is_retried_after_each_delay():
    work, calls = _failing(2, TimeoutError("lock wait timeout exceeded"))
    slept: list[float] = []
    retried: list[int] = []
    result = retry_call(
        work, backoff_delays(3, 0.5), sleep=slept.append, on_retry=lambda n, _e: retried.append(n)
    )
    assert result == ("done", 2) and len(calls) == 3
    assert slept == [0.5, 1.0] and retried == [1, 2]


def test_the_last_failure_is_raised_once_the_delays_are_used():
    work, calls = _failing(5, TimeoutError("deadlock found"))
    slept: list[float] = []
    with pytest.raises(TimeoutError, match="deadlock"):
        retry_call(work, [0.1, 0.2], sleep=slept.append)
    assert len(calls) == 3 and slept == [0.1, 0.2]


def test_a_permanent_failure_is_raised_at_once():
    work, calls = _failing(1, ValueError("unknown column"))
    slept: list[float] = []
    with pytest.raises(ValueError):
        retry_call(work, [0.1, 0.2], sleep=slept.append)
    assert len(calls) == 1 and slept == []


# --- classification by class and driver code, never by message text ---------------------------------------


def _sqlalchemy_error(kind, code: int, text: str, label: str):
    """A SQLAlchemy error wrapping a pymysql one, as a failed INSERT of a row labelled `label` raises it."""
    import pymysql
    import sqlalchemy as sa

    driver = getattr(pymysql.err, kind)(code, text)
    wrapper = getattr(sa.exc, kind)(
        "INSERT INTO catalog_product_entity_media_gallery_value (label) VALUES (%s)", (label,), driver
    )
    return wrapper, driver


def test_payload_words_in_a_permanent_error_do_not_make_it_retriable():
    from nacento_pipeline.core.retry import is_retriable

    error, _ = _sqlalchemy_error(
        "IntegrityError",
        1062,
        "Duplicate entry 'deadlock timeout' for key 'x'",
        "lock wait timeout; deadlock; server has gone away",
    )
    assert "deadlock" in str(error) and "timeout" in str(error)
    assert not is_retriable(error)
    signal, _ = _sqlalchemy_error("OperationalError", 1644, "label refused: deadlock timeout", "timeout")
    assert not is_retriable(signal)  # a trigger's SIGNAL: OperationalError class, permanent code
    assert not is_retriable(ValueError("lock wait timeout exceeded; deadlock found"))
    assert not is_retriable(RuntimeError("connection refused"))


def test_transient_driver_codes_are_retriable_wrapped_or_not():
    from nacento_pipeline.core.retry import is_retriable

    for code in (1205, 1213, 2006, 2013, 1927):
        wrapped, driver = _sqlalchemy_error("OperationalError", code, "anything", "label")
        assert is_retriable(wrapped) and is_retriable(driver), code
    chained = RuntimeError("chunk failed")
    chained.__cause__ = _sqlalchemy_error("OperationalError", 1213, "x", "y")[0]
    assert is_retriable(chained)
    assert is_retriable(TimeoutError("no words needed")) and is_retriable(ConnectionResetError())


def test_sqlite_busy_is_retriable_by_its_code(tmp_path):
    import sqlite3

    from nacento_pipeline.core.retry import is_retriable

    path = tmp_path / "x.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as busy:
        other.execute("INSERT INTO t VALUES (1)")
    holder.rollback()
    holder.close()
    other.close()
    assert is_retriable(busy.value)
    assert not is_retriable(sqlite3.OperationalError("database is locked"))  # the text alone proves nothing


def test_s3_errors_by_their_code():
    from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

    from nacento_pipeline.core.retry import is_retriable

    def client_error(code: str, status: int, message: str) -> ClientError:
        return ClientError(
            {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
            "GetObject",
        )

    assert is_retriable(client_error("SlowDown", 503, "reduce your request rate"))
    assert is_retriable(client_error("Whatever", 500, "internal"))
    assert not is_retriable(client_error("NoSuchKey", 404, "timeout deadlock throttling"))
    assert not is_retriable(client_error("AccessDenied", 403, "service unavailable"))
    assert is_retriable(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert is_retriable(ReadTimeoutError(endpoint_url="http://127.0.0.1:1"))


def test_recorded_errors_by_class_name_and_leading_driver_code():
    from nacento_pipeline.core.retry import recorded_error_retriable, run_failure_is_permanent

    label = "SKU 'X': (pymysql.err.IntegrityError) (1062, \"Duplicate entry 'timeout'\")"
    assert not recorded_error_retriable([("StepFailed", label), ("ValueError", "lock wait timeout")])
    assert recorded_error_retriable(
        [("OperationalError", "(pymysql.err.OperationalError) (1205, 'Lock wait')")]
    )
    assert recorded_error_retriable([("OperationalError", "(2013, 'Lost connection to MySQL server')")])
    assert not recorded_error_retriable([("OperationalError", "(1644, 'label deadlock (1205, ')")])
    assert recorded_error_retriable([("TransientStepFailed", "anything")])
    assert run_failure_is_permanent([[("StepFailed", "deadlock timeout in a label")]])
