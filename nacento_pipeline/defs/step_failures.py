"""What a step failure says: the error's text without SQL statements or bound values, cut to about 2 KB.

The text (core.failure_text) is raised as `StepFailed`, or `TransientStepFailed` when core.retry calls the
cause transient, so that the catch-up's reading of the recorded failure is decided by the error's class and
driver code, never by its text. Where it happened is kept as the innermost frames' file, line and function
(no values).
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator

import dagster as dg

from nacento_pipeline.core.failure_text import failure_text
from nacento_pipeline.core.retry import StepFailed, TransientStepFailed, is_retriable

FRAMES_SHOWN = 3


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-FRAMES_SHOWN:]
    return "; ".join(
        f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno} in {frame.name}" for frame in frames
    )


def reported(exc: Exception) -> StepFailed:
    """The step failure that stands for `exc`."""
    kind = TransientStepFailed if is_retriable(exc) else StepFailed
    where = _where(exc)
    return kind(failure_text(exc) + (f"\n(at {where})" if where else ""))


@contextlib.contextmanager
def reported_failures() -> Iterator[None]:
    """Any error escaping the block becomes its `reported` step failure; Dagster's own exceptions pass.

    The chain is dropped: the chain's messages are what carries SQL literals. A Failure with its metadata or
    a RetryRequested passes as raised.
    """
    try:
        yield
    except (dg.DagsterError, dg.Failure, dg.RetryRequested, StepFailed):
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised as the step failure that stands for it
        raise reported(exc) from None
