"""The whole system in one place: assets, jobs, sensors, schedules and resources (from NACENTO_* settings)."""

from __future__ import annotations

import dagster as dg

from nacento_pipeline.assets import AUDIT_ASSETS, BATCH_ASSETS
from nacento_pipeline.config import Settings
from nacento_pipeline.jobs import gallery_audit_job, pim_batch_job, pim_batch_validate_job
from nacento_pipeline.resources import resources_from_settings
from nacento_pipeline.schedules import build_catchup_schedule, gallery_audit_schedule
from nacento_pipeline.sensors import SENSORS


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[*BATCH_ASSETS, *AUDIT_ASSETS],
        jobs=[pim_batch_job, pim_batch_validate_job, gallery_audit_job],
        sensors=SENSORS,
        schedules=[build_catchup_schedule(settings.catchup_minutes), gallery_audit_schedule],
        resources=resources_from_settings(settings),
    )


defs = build_definitions(Settings.from_env())
