"""The whole system in one place: assets, jobs, sensors, schedules and resources (from NACENTO_* settings)."""

from __future__ import annotations

import dagster as dg

from nacento_pipeline.config import Settings
from nacento_pipeline.defs.assets import AUDIT_ASSETS, BATCH_ASSETS, DROP_ASSETS
from nacento_pipeline.defs.constants import TAG_MAGENTO_DB, TAG_MAX_RUNTIME
from nacento_pipeline.defs.jobs import (
    build_gallery_audit_job,
    build_pim_batch_job,
    build_pim_batch_validate_job,
)
from nacento_pipeline.defs.revert_job import build_revert_job
from nacento_pipeline.defs.schedules import build_audit_schedule, build_catchup_schedule
from nacento_pipeline.defs.sensors import SENSORS
from nacento_pipeline.defs.sensors.alert_sensors import alert_resources, build_alert_sensors
from nacento_pipeline.resources import resources_from_settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """The Dagster definitions (assets, jobs, schedules, sensors, resources) for these settings."""
    # Every run that writes Magento carries the database it writes (host/name, never credentials): a
    # QueuedRunCoordinator tag limit of 1 per value (deploy/) then lets one store's runs write one at a time.
    writes = {TAG_MAGENTO_DB: settings.magento_db_label}
    audit_job = build_gallery_audit_job(run_tags=writes)
    # A batch run older than NACENTO_RUN_MAX_RUNTIME_SECONDS is cancelled by run monitoring (dagster.yaml), so
    # a run stuck on a dead connection frees its pool slot and the writer lock even past the database
    # timeouts.
    limit = (
        {TAG_MAX_RUNTIME: str(settings.run_max_runtime_seconds)} if settings.run_max_runtime_seconds else {}
    )
    return dg.Definitions(
        assets=[*BATCH_ASSETS, *AUDIT_ASSETS, *DROP_ASSETS],
        jobs=[
            build_pim_batch_job(run_tags={**writes, **limit}),
            build_pim_batch_validate_job(run_tags=limit),
            audit_job,
            build_revert_job(writes),
        ],
        sensors=[*SENSORS, *build_alert_sensors(settings)],
        schedules=[build_catchup_schedule(settings.catchup_minutes), build_audit_schedule(audit_job)],
        resources={**resources_from_settings(settings), **alert_resources(settings)},
    )


defs = build_definitions(Settings.from_env())
