"""The whole system in one place: assets, jobs, sensors, schedules and resources (from NACENTO_* settings)."""

from __future__ import annotations

import dagster as dg

from nacento_pipeline.config import Settings
from nacento_pipeline.defs.assets import AUDIT_ASSETS, BATCH_ASSETS, DROP_ASSETS
from nacento_pipeline.defs.constants import TAG_MAGENTO_DB
from nacento_pipeline.defs.jobs import build_gallery_audit_job, build_pim_batch_job, pim_batch_validate_job
from nacento_pipeline.defs.schedules import build_audit_schedule, build_catchup_schedule
from nacento_pipeline.defs.sensors import SENSORS
from nacento_pipeline.defs.sensors.alert_sensors import alert_resources, build_alert_sensors
from nacento_pipeline.resources import resources_from_settings


def build_definitions(settings: Settings) -> dg.Definitions:
    # Every run that writes Magento carries the database it writes (host/name, never credentials): a
    # QueuedRunCoordinator tag limit of 1 per value (deploy/) then lets one store's runs write one at a time.
    writes = {TAG_MAGENTO_DB: settings.magento_db_label}
    audit_job = build_gallery_audit_job(run_tags=writes)
    return dg.Definitions(
        assets=[*BATCH_ASSETS, *AUDIT_ASSETS, *DROP_ASSETS],
        jobs=[build_pim_batch_job(run_tags=writes), pim_batch_validate_job, audit_job],
        sensors=[*SENSORS, *build_alert_sensors(settings)],
        schedules=[build_catchup_schedule(settings.catchup_minutes), build_audit_schedule(audit_job)],
        resources={**resources_from_settings(settings), **alert_resources(settings)},
    )


defs = build_definitions(Settings.from_env())
