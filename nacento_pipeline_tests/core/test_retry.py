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
    result = retry_call(work, backoff_delays(3, 0.5), sleep=slept.append, on_retry=lambda n, _e: retried.append(n))
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
