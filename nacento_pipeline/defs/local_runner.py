"""Run the drop sensor once and execute the runs it requests in this process (demo, CLI, tests).

This is what the Dagster daemon does on a tick, minus the daemon: handy on a laptop and in tests. Runs are
recorded in the given instance, so `dagster dev` on the same DAGSTER_HOME shows them afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from nacento_pipeline.defs.constants import BATCH_JOB, DROP_SENSOR, PARTITIONS_NAME
from nacento_pipeline.defs.jobs import with_job_defaults
from nacento_pipeline.defs.sensors.batch_status_sensor import mark_batch


@dataclass(frozen=True)
class TickOutcome:
    """What a tick did: the partitions it requested, their runs' results, its skip reason and cursor."""

    requested: tuple[str, ...]  # partition keys the tick requested
    results: tuple[dg.ExecuteInProcessResult, ...]
    skip_reason: str | None
    cursor: str | None


def _evaluate(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def(DROP_SENSOR)
    with dg.build_sensor_context(
        instance=instance,
        definitions=defs,
        sensor_name=DROP_SENSOR,
        cursor=cursor,
        resources=dict(defs.resources or {}),
    ) as context:
        result = sensor(context)
    if not isinstance(result, dg.SensorResult):
        raise TypeError(f"{DROP_SENSOR} returned {type(result).__name__}, expected SensorResult")
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(PARTITIONS_NAME, list(request.partition_keys))
    return result


def tick_and_run(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    cursor: str | None = None,
    raise_on_error: bool = False,
    log_level: str = "DEBUG",
) -> TickOutcome:
    """One sensor tick, its runs, the run-status marks, then the next tick (which cleans the drop prefix)."""
    job = defs.resolve_job_def(BATCH_JOB)
    resources = defs.resources or {}
    object_store, drop_zone = resources["object_store"], resources["drop_zone"]
    seen = {
        r.tags.get("dagster/run_key")
        for r in instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB), limit=10000)
    }
    requested: list[str] = []
    results: list = []
    skip: str | None = None
    for _ in range(2):
        result = _evaluate(defs, instance, cursor)
        cursor = result.cursor
        if skip is None and result.skip_reason:
            skip = result.skip_reason.skip_message
        for request in result.run_requests or []:
            if request.run_key and request.run_key in seen:
                continue  # the daemon ignores a run key it has seen: so do we
            seen.add(request.run_key)
            requested.append(str(request.partition_key))
            tags = dict(request.tags)
            if request.run_key:
                tags["dagster/run_key"] = request.run_key
            run = job.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                tags=tags,
                raise_on_error=raise_on_error,
                run_config=with_job_defaults(
                    job,
                    str(request.partition_key),
                    {"loggers": {"console": {"config": {"log_level": log_level}}}},
                ),
            )
            results.append(run)
            mark_batch(object_store, drop_zone, run.dagster_run, "succeeded" if run.success else "failed")
    return TickOutcome(tuple(requested), tuple(results), skip, cursor)
