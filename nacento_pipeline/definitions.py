"""The whole system in one place: assets, jobs, sensors, schedules and resources (from NACENTO_* settings).

`build_definitions` is where the parsed settings become Dagster's configuration: connections and what sensors
read go into the resources (resources/build.py), the batch assets' policy into the jobs' default run config
(defs/assets/run_config.py), overridable per run in the Launchpad.
"""

from __future__ import annotations

import dagster as dg

from nacento_pipeline.config import Settings
from nacento_pipeline.defs.assets import AUDIT_ASSETS, BATCH_ASSETS, DROP_ASSETS
from nacento_pipeline.defs.assets.run_config import job_run_config
from nacento_pipeline.defs.constants import TAG_MAGENTO_DB, TAG_MAX_RUNTIME
from nacento_pipeline.defs.jobs import (
    VALIDATE_ASSETS,
    build_gallery_audit_job,
    build_pim_batch_job,
    build_pim_batch_validate_job,
)
from nacento_pipeline.defs.revert_job import build_revert_job
from nacento_pipeline.defs.schedules import build_audit_schedule, build_catchup_schedule
from nacento_pipeline.defs.sensors import SENSORS
from nacento_pipeline.defs.sensors.alert_sensors import alert_resources, build_alert_sensors
from nacento_pipeline.resources import build_resources


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
    batch_config = job_run_config(settings, (a.key.to_user_string() for a in BATCH_ASSETS))
    return dg.Definitions(
        assets=[*BATCH_ASSETS, *AUDIT_ASSETS, *DROP_ASSETS],
        jobs=[
            build_pim_batch_job(run_tags={**writes, **limit}, config=batch_config),
            build_pim_batch_validate_job(run_tags=limit, config=job_run_config(settings, VALIDATE_ASSETS)),
            audit_job,
            build_revert_job(writes),
        ],
        sensors=[*SENSORS, *build_alert_sensors(settings)],
        schedules=[build_catchup_schedule(settings.catchup_minutes), build_audit_schedule(audit_job)],
        resources={**build_resources(settings), **alert_resources(settings)},
    )


defs = build_definitions(Settings.from_env())
