"""`pim_drop_sensor`: every complete batch in the drop prefix becomes a `pim_batches` partition and one run."""


import json

import dagster as dg

from nacento_pipeline.constants import (
    BATCH_JOB,
    DROP_SENSOR,
    PARTITIONS_NAME,
    REJECTIONS_ASSET,
    TAG_ARCHIVE_VERSION,
    TAG_OK_ETAG,
    TAG_SOURCE,
)
from nacento_pipeline.partitions import pim_batches
from nacento_pipeline.registration import DropPass, Rejected, register_drops
from nacento_pipeline.resources.object_store import ObjectStoreResource

CURSOR_MEMORY = 500  # drops remembered as archived, awaiting clean-up (spares a HEAD each)


def _load_cursor(raw: str | None) -> dict[str, str]:
    """OK-file key -> archive version of drops this sensor archived and has not cleaned up yet."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return dict(data.get("archived", {})) if isinstance(data, dict) else {}


def _dump_cursor(previous: dict[str, str], outcome: DropPass) -> str:
    archived = dict(previous)
    for item in outcome.registered:
        archived[item.drop.ok_key] = item.manifest.version
    for ok_key in outcome.cleaned:
        archived.pop(ok_key, None)
    trimmed = dict(list(archived.items())[-CURSOR_MEMORY:])
    return json.dumps({"archived": trimmed})


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
            f"rejected drop {rejected.label or '(bad names)'}: {rejected.reason}; moved to {rejected.moved_to}"
        )
    if outcome.pending:
        context.log.info(f"{len(outcome.pending)} bunch file(s) wait for their OK file")
    if outcome.deferred:
        context.log.info(f"{outcome.deferred} complete batch(es) deferred to the next tick")
    context.log.info(f"listed {outcome.objects_listed} object(s); requests {outcome.requests}")


@dg.sensor(
    name=DROP_SENSOR,
    job_name=BATCH_JOB,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Watches the drop prefix for OK files. Each complete, valid batch is archived, added as a "
        "`pim_batches` partition and run once (run key = batch key + OK-file ETag + bunch fingerprint). Invalid "
        "drops are moved to the rejected prefix with a report."
    ),
)
def pim_drop_sensor(context: dg.SensorEvaluationContext, object_store: ObjectStoreResource) -> dg.SensorResult:
    store = object_store.get_store()
    previous = _load_cursor(context.cursor)
    outcome = register_drops(
        store,
        drop_prefix=object_store.drop_prefix,
        archive_prefix=object_store.archive_prefix,
        rejected_prefix=object_store.rejected_prefix,
        is_registered=lambda key: context.instance.has_dynamic_partition(PARTITIONS_NAME, key),
        archived_versions=previous,
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
        parts = [f"no complete batch in {object_store.drop_prefix}"]
        if outcome.rejected:  # first, so the tick list shows it: a rejection is not an idle tick
            parts.insert(0, f"REJECTED {len(outcome.rejected)} drop(s): " + "; ".join(
                f"{r.label or '(bad names)'}: {r.reason} (report {r.moved_to}REPORT.md)" for r in outcome.rejected))
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
        cursor=_dump_cursor(previous, outcome),
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
