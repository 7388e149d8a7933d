"""Which registered batches the catch-up schedule should run again: pure set logic, no Dagster."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SUCCEEDED = "SUCCESS"
FAILED = ("FAILURE", "CANCELED")
IN_FLIGHT = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


@dataclass(frozen=True)
class PartitionRuns:
    """The runs of one batch partition, newest first, as run statuses (Dagster's status names)."""

    statuses: tuple[str, ...] = ()
    newest_failure_permanent: bool = False  # the newest run failed for a permanent cause (core.retry)

    @property
    def failures_since_success(self) -> int:
        """How many of the newest runs failed in a row (since the newest success, or ever)."""
        count = 0
        for status in self.statuses:
            if status == SUCCEEDED:
                break
            count += status in FAILED
        return count


@dataclass(frozen=True)
class CatchupPlan:
    """What the catch-up does with the registered batches: run, give up, leave alone, or nothing (done)."""

    to_run: tuple[str, ...]  # batch keys to request, oldest registration first
    given_up: tuple[str, ...]  # failed max_attempts times in a row: left for an operator (shown in the tick)
    in_flight: tuple[str, ...]  # a run is queued or running: leave it alone
    done: int  # newest run succeeded
    permanent: tuple[str, ...] = ()  # newest run failed for a permanent cause: running it again cannot help


def plan_catchup(
    registered: Sequence[str],
    runs: Mapping[str, PartitionRuns],
    *,
    max_attempts: int = 3,
    limit: int = 20,
) -> CatchupPlan:
    """Batches whose newest run did not succeed (or that never ran), not running now, not failing for good.

    Failing for good is failing for a permanent cause (decided by core.retry) or max_attempts times in a row.

    Looking at the newest run rather than "ever materialized" matters: a changed batch re-dropped under the
    same key whose run failed must be retried even though an older version of it was written.
    """
    to_run, given_up, running, permanent, done = [], [], [], [], 0
    for key in registered:
        history = runs.get(key, PartitionRuns())
        newest = history.statuses[0] if history.statuses else None
        if newest == SUCCEEDED:
            done += 1
        elif newest in IN_FLIGHT:
            running.append(key)
        elif newest in FAILED and history.newest_failure_permanent:
            permanent.append(key)
        elif history.failures_since_success >= max_attempts:
            given_up.append(key)
        else:
            to_run.append(key)
    return CatchupPlan(tuple(to_run[:limit]), tuple(given_up), tuple(running), done, tuple(permanent))
