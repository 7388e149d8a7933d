"""Which registered batches the catch-up schedule should run again: pure set logic, no Dagster."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CatchupPlan:
    to_run: tuple[str, ...]  # batch keys to request, oldest registration first
    given_up: tuple[str, ...]  # failed max_attempts times: left for an operator (visible in the tick)
    in_flight: tuple[str, ...]  # a run is queued or running: leave it alone
    done: int  # already written successfully


def plan_catchup(
    registered: Sequence[str],
    materialized: Collection[str],
    in_flight: Collection[str],
    failures: Mapping[str, int],
    *,
    max_attempts: int = 3,
    limit: int = 20,
) -> CatchupPlan:
    """Batches registered but never written successfully, not running now, and not failed too often."""
    done = set(materialized)
    pending = [key for key in registered if key not in done]
    running = tuple(key for key in pending if key in in_flight)
    candidates = [key for key in pending if key not in in_flight]
    given_up = tuple(key for key in candidates if failures.get(key, 0) >= max_attempts)
    to_run = tuple(key for key in candidates if failures.get(key, 0) < max_attempts)[:limit]
    return CatchupPlan(to_run=to_run, given_up=given_up, in_flight=running, done=len(done & set(registered)))
