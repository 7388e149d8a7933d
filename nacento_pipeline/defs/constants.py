"""Names users and their scripts rely on: keep them stable."""

PARTITIONS_NAME = "pim_batches"
BATCH_JOB = "pim_batch_job"
VALIDATE_JOB = "pim_batch_validate_job"
AUDIT_JOB = "gallery_audit_job"
REVERT_JOB = "revert_batch"
DROP_SENSOR = "pim_drop_sensor"
STATUS_SENSOR = "pim_batch_status_sensor"
CATCHUP_SCHEDULE = "pim_catchup_schedule"
AUDIT_SCHEDULE = "gallery_audit_schedule"
BATCH_GROUP = "pim_batch_sync"
AUDIT_GROUP = "gallery_audit"
MAGENTO_POOL = "magento_db"
REJECTIONS_ASSET = "pim_drop_rejections"  # external asset: one event per drop the sensor rejected
OWNERS = ["team:catalog-data"]

# Run tags (filterable in the UI's Runs page)
TAG_OK_ETAG = "nacento/ok_etag"
TAG_ARCHIVE_VERSION = "nacento/archive_version"
TAG_SOURCE = "nacento/source"  # sensor | catchup | backfill/manual (absent)
TAG_REINDEX = "nacento/reindex"  # full | partial | none
TAG_FORCE = "nacento/force"
TAG_MODE = "nacento/mode"
TAG_MAGENTO_DB = "nacento/magento_db"  # host/database a run writes: one writing run per value (deploy/)
TAG_APPROVE_BLAST_RADIUS = (
    "nacento/approve_blast_radius"  # = <batch key>: that batch may exceed the guard's limits
)

# Dagster's run tag for run monitoring's per-run time limit (seconds), set on batch runs (definitions.py).
TAG_MAX_RUNTIME = "dagster/max_runtime"
