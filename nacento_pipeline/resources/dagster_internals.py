"""The only module that imports Dagster's private API (`dagster._*`); ruff's TID251 bans it everywhere else.

Each name is used because Dagster 1.13 has no public equivalent:
- `PickledObjectFilesystemIOManager`: the pickle IO manager behind `FilesystemIOManager`, subclassed so a
  run can delete the frames it no longer needs (resources/io_manager.py).
- `ExecutionPlanSnapshot`: the type of a run's execution plan, read by the jobs' hooks.
- `PartitionKeyFilter`, `AssetCheckExecutionRecord`, `AssetCheckExecutionRecordStatus`: the instance's
  asset-check history for one partition (defs/hooks.py carries a check's last verdict over a failed run).
- `CheckRunHealthResult`, `WorkerStatus`: what a run launcher answers run monitoring (defs/run_launcher.py).
- `SerializableErrorInfo`: the type of a recorded step error, read by the catch-up schedule.
- `UnresolvedAssetJobDefinition`: the type `define_asset_job` returns, for annotations.
- `IN_PROC_CONFIG`, `MULTI_PROC_CONFIG`: the config fields of Dagster's two executors, to default
  `multi_or_in_process_executor` to in-process (defs/jobs.py).
When Dagster makes one of these public, import it from `dagster` and drop it here.
"""

from dagster._core.definitions.executor_definition import IN_PROC_CONFIG, MULTI_PROC_CONFIG
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.snap.execution_plan_snapshot import ExecutionPlanSnapshot
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)
from dagster._core.storage.fs_io_manager import PickledObjectFilesystemIOManager
from dagster._utils.error import SerializableErrorInfo

__all__ = [
    "IN_PROC_CONFIG",
    "MULTI_PROC_CONFIG",
    "AssetCheckExecutionRecord",
    "AssetCheckExecutionRecordStatus",
    "CheckRunHealthResult",
    "ExecutionPlanSnapshot",
    "PartitionKeyFilter",
    "PickledObjectFilesystemIOManager",
    "SerializableErrorInfo",
    "UnresolvedAssetJobDefinition",
    "WorkerStatus",
]
