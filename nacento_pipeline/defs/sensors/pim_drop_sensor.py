"""`pim_drop_sensor`: each complete batch in the drop prefix becomes a `pim_batches` partition and a run."""

import json
import time

import dagster as dg

from nacento_pipeline.core.drop.dropzone import BATCH_KEY_PATTERN, DropName, parse_drop_name
from nacento_pipeline.defs.constants import (
    BATCH_JOB,
    DROP_SENSOR,
    PARTITIONS_NAME,
    REJECTIONS_ASSET,
    TAG_ARCHIVE_VERSION,
    TAG_OK_ETAG,
    TAG_SOURCE,
)
from nacento_pipeline.defs.jobs import IN_PROCESS_CONFIG, STEP_PROCESSES_CONFIG, with_job_defaults
from nacento_pipeline.defs.partitions import pim_batches
from nacento_pipeline.resources.drop_zone import DropZoneResource
from nacento_pipeline.resources.object_store import ObjectStoreResource
from nacento_pipeline.storage.drop.event_registration import EventPass, register_from_events
from nacento_pipeline.storage.drop.registration import DropPass, Registered, Rejected, register_drops

CURSOR_MEMORY = 500  # drops remembered as archived, awaiting clean-up (spares a HEAD each)
MB = 1024 * 1024


def run_config_for(item: Registered, step_processes_above_mb: int) -> dict:
    """In-process run config for a small batch; one process per step for a batch above the setting.

    A batch whose bunch files exceed it runs each step in a process of its own, so each step's memory returns
    to the OS when it ends and the run peaks at its biggest step.
    """
    big = item.drop.total_size > step_processes_above_mb * MB
    return STEP_PROCESSES_CONFIG if big else IN_PROCESS_CONFIG


def _run_config(context: dg.SensorEvaluationContext, item: Registered, step_processes_above_mb: int) -> dict:
    """The run's config: the executor `run_config_for` picks, over the batch job's default config.

    The job's default is the NACENTO_* policy (definitions.py); a run config given alone would replace it.
    """
    executor = run_config_for(item, step_processes_above_mb)
    repository = context.repository_def
    return (
        with_job_defaults(repository.get_job(BATCH_JOB), item.drop.batch_key, executor)
        if repository
        else executor
    )


def _load_cursor(raw: str | None) -> dict[str, str]:
    """OK-file key -> archive version of drops this sensor archived and has not cleaned up yet."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return dict(data.get("archived", {})) if isinstance(data, dict) else {}


def _load_event_state(raw: str | None) -> dict:
    """Event mode: when the drop prefix was last listed in full, batches to retry, a full scan owed."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    state = data.get("events") if isinstance(data, dict) else None
    return state if isinstance(state, dict) else {}


def _events_pass(
    context: dg.SensorEvaluationContext,
    object_store: ObjectStoreResource,
    drop_zone: DropZoneResource,
    previous: dict[str, str],
) -> tuple[DropPass, dict]:
    """One event-mode pass: the batches the queue's events name, plus those the cursor carries."""
    store, queue = object_store.get_store(), object_store.get_event_queue()
    assert queue is not None
    state = _load_event_state(context.cursor)
    now = time.time()
    last_full = float(state.get("last_full_scan", 0) or 0)
    reconcile = (
        bool(state.get("reconcile", False)) or now - last_full >= drop_zone.events_reconcile_minutes * 60
    )
    batch_of = {
        ok_key: parsed.batch_key
        for ok_key in previous
        if isinstance(parsed := parse_drop_name(ok_key, drop_zone.drop_prefix), DropName)
    }
    carried = list(batch_of.values())
    carried += [key for key in state.get("retry", []) if isinstance(key, str)]
    passed: EventPass = register_from_events(
        store,
        queue,
        drop_prefix=drop_zone.drop_prefix,
        archive_prefix=drop_zone.archive_prefix,
        rejected_prefix=drop_zone.rejected_prefix,
        carried=carried,
        reconcile=reconcile,
        is_registered=lambda key: context.instance.has_dynamic_partition(PARTITIONS_NAME, key),
        archived_versions=previous,
        media_prefix=object_store.media_prefix,
        copy_concurrency=object_store.concurrency,
        limits=drop_zone.limits,
    )
    outcome = passed.drop
    for ok_key in [k for k, batch_key in batch_of.items() if batch_key in passed.gone]:
        previous.pop(ok_key)  # its files left the drop prefix some other way: stop looking at it
    retry = [key for key, _ in outcome.failed if BATCH_KEY_PATTERN.fullmatch(key)]
    context.log.info(
        f"event mode: {passed.messages} message(s), {passed.events} event(s), {len(passed.batches)} "
        f"batch(es) looked at{', full LIST of the drop prefix' if passed.reconciled else ''}; queue calls "
        f"{passed.queue_calls}"
    )
    for error in passed.unreadable:
        context.log.warning(f"not a bucket event notification, dropped: {error}")
    new_state = {
        "last_full_scan": now if passed.reconciled else last_full,
        "retry": retry,
        # deferred batches and failures without a batch key are found again by a full LIST
        "reconcile": bool(outcome.deferred) or len(retry) < len(outcome.failed),
    }
    return outcome, new_state


def _dump_cursor(previous: dict[str, str], outcome: DropPass, events: dict | None = None) -> str:
    archived = dict(previous)
    for item in outcome.registered:
        archived[item.drop.ok_key] = item.manifest.version
    for ok_key in outcome.cleaned:
        archived.pop(ok_key, None)
    trimmed = dict(list(archived.items())[-CURSOR_MEMORY:])
    data: dict[str, object] = {"archived": trimmed}
    if events is not None:
        data["events"] = events
    return json.dumps(data)


def _log_outcome(context: dg.SensorEvaluationContext, outcome: DropPass) -> None:
    for item in outcome.registered:
        context.log.info(
            f"registered batch {item.drop.batch_key} ({len(item.manifest.files)} bunch files, "
            f"OK ETag {item.drop.ok_etag}) -> {item.manifest.prefix}"
        )
    if outcome.cleaned:
        names = ", ".join(k.rsplit("/", 1)[-1] for k in outcome.cleaned)
        context.log.info(f"registered batches removed from the drop prefix: {names}")
    for key, error in outcome.failed:
        context.log.error(f"batch {key} left in the drop prefix for the next tick: {error}")
    for rejected in outcome.rejected:
        context.log.warning(
            f"rejected drop {rejected.label or '(bad names)'}: {rejected.reason}; moved to "
            f"{rejected.moved_to}"
        )
    if outcome.media_copied or outcome.media_kept:
        context.log.info(
            f"export folders: {outcome.media_copied} image file(s) copied to the media prefix, "
            f"{outcome.media_kept} already there with the same content"
        )
    if outcome.pending:
        context.log.info(f"{len(outcome.pending)} bunch file(s) wait for their OK file")
    if outcome.deferred:
        context.log.info(f"{outcome.deferred} complete batch(es) deferred to the next tick")
    if outcome.invalid_left:
        context.log.info(f"{outcome.invalid_left} invalid name(s) left for the next ticks (per-tick limit)")
    context.log.info(f"listed {outcome.objects_listed} object(s); requests {outcome.requests}")


@dg.sensor(
    name=DROP_SENSOR,
    job_name=BATCH_JOB,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches the drop prefix for OK files. Each complete, valid batch is archived, added as a "
        "`pim_batches` partition and run once (run key = batch key + OK-file ETag + bunch fingerprint). "
        "Invalid drops are moved to the rejected prefix with a report. With NACENTO_DROP_EVENTS=sqs it reads "
        "the bucket's event notifications instead and lists only the batches they name (plus a periodic full "
        "LIST)."
    ),
)
def pim_drop_sensor(
    context: dg.SensorEvaluationContext, object_store: ObjectStoreResource, drop_zone: DropZoneResource
) -> dg.SensorResult:
    """Register the complete drops (LIST, or the queue's events) and request one run per batch."""
    store = object_store.get_store()
    previous = _load_cursor(context.cursor)
    events_state: dict | None = None
    if object_store.get_event_queue() is not None:
        outcome, events_state = _events_pass(context, object_store, drop_zone, previous)
    else:
        outcome = register_drops(
            store,
            drop_prefix=drop_zone.drop_prefix,
            archive_prefix=drop_zone.archive_prefix,
            rejected_prefix=drop_zone.rejected_prefix,
            is_registered=lambda key: context.instance.has_dynamic_partition(PARTITIONS_NAME, key),
            archived_versions=previous,
            media_prefix=object_store.media_prefix,
            copy_concurrency=object_store.concurrency,
            limits=drop_zone.limits,
        )
    _log_outcome(context, outcome)

    new_keys = []
    for item in outcome.registered:
        key = item.drop.batch_key
        if key not in new_keys and not context.instance.has_dynamic_partition(PARTITIONS_NAME, key):
            new_keys.append(key)
    run_requests = [
        dg.RunRequest(
            partition_key=item.drop.batch_key,
            run_key=item.run_key,
            run_config=_run_config(context, item, drop_zone.step_processes_above_mb),
            tags={
                TAG_OK_ETAG: item.drop.ok_etag,
                TAG_ARCHIVE_VERSION: item.manifest.version,
                TAG_SOURCE: "sensor",
            },
        )
        for item in outcome.registered
    ]
    skip_reason = None
    if not run_requests:
        parts = [f"no complete batch in {drop_zone.drop_prefix}"]
        if outcome.rejected:  # first, so the tick list shows it: a rejection is not an idle tick
            parts.insert(
                0,
                f"REJECTED {len(outcome.rejected)} drop(s): "
                + "; ".join(
                    f"{r.label or '(bad names)'}: {r.reason} (report {r.moved_to}REPORT.md)"
                    for r in outcome.rejected
                ),
            )
        if outcome.pending:
            parts.append(f"{len(outcome.pending)} bunch file(s) wait for their OK file")
        if outcome.cleaned:
            parts.append(f"cleaned up {len(outcome.cleaned)} registered batch(es)")
        if outcome.failed:
            parts.append("failed: " + "; ".join(f"{k}: {e}" for k, e in outcome.failed))
        skip_reason = " | ".join(parts)
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[pim_batches.build_add_request(new_keys)] if new_keys else [],
        cursor=_dump_cursor(previous, outcome, events_state),
        skip_reason=skip_reason,
        asset_events=[rejection_event(item, store.display_name) for item in outcome.rejected],
    )


def rejection_event(item: Rejected, store_name: str) -> dg.AssetMaterialization:
    """One event of the `pim_drop_rejections` asset per rejected drop, linking to its REPORT.md."""
    return dg.AssetMaterialization(
        asset_key=REJECTIONS_ASSET,
        partition=None,
        description=f"rejected drop {item.label or '(bad names)'}: {item.reason}",
        metadata={
            "drop": dg.MetadataValue.text(item.label or "(bad names)"),
            "reason": dg.MetadataValue.text(item.reason),
            "report": dg.MetadataValue.url(f"{store_name}/{item.moved_to}REPORT.md"),
            "moved_to": dg.MetadataValue.text(item.moved_to),
            "files": dg.MetadataValue.int(len(item.keys)),
            "first_files": dg.MetadataValue.text(", ".join(k.rsplit("/", 1)[-1] for k in item.keys[:10])),
        },
    )
