"""Frames between the batch assets: Dagster's pickle files, kept only as long as a run needs them.

They live under `<DAGSTER_HOME>/storage/<asset>/<partition>`. Retention policy
(`defs.hooks.release_consumed_frames`, a success hook on the jobs): an output's file is deleted as soon as
every step of the same run that reads it has succeeded (an output nobody in the run reads is deleted when its
own step succeeds). So a successful run leaves no frame behind; a failed run keeps exactly the inputs of the
steps that did not succeed, which is what Dagster's "re-execute from failure" (and the run retries of
dagster.yaml) load; the partition's next successful run overwrites and then deletes them. What stays for good
is the materialization metadata: counts and first-N tables.

An asset whose output the partition's later runs read (a downstream asset re-materialized alone, e.g.
`storefront_cache` to re-evaluate freshness) carries the op tag KEEP_OUTPUT_TAG: its output is kept (one file
per partition, overwritten by the partition's next run), so it must be a summary, not a frame.

gallery_delta's plan is the one output that grows with the batch: it is stored as parts
(resources/plan_store.py) in `<storage dir>/gallery_delta/<partition>.parts/<run id>/`, and only a small
handle is pickled; the parts directory is deleted together with the handle (same retention), and replaced by
the partition's next run of gallery_delta. The asset writes each part as soon as it is planned, into
`<storage dir>/gallery_delta/.planning/<run id>/`; storing its output moves that directory into place.

The `path` metadata Dagster adds to every output is left out: an asset's metadata is about the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import dagster as dg
from upath import UPath

from nacento_pipeline.magento.gallery.plan import GalleryPlan
from nacento_pipeline.resources.dagster_internals import PickledObjectFilesystemIOManager
from nacento_pipeline.resources.plan_store import store_plan
from nacento_pipeline.storage.plan_parts import remove_parts

KEEP_OUTPUT_TAG = "nacento/keep_output"


class RunScopedPickleIOManager(PickledObjectFilesystemIOManager):
    """Dagster's pickle IO manager, one file per partition, the batch's plan stored as parts."""

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Pickle `obj` for the run's one partition (a GalleryPlan as parts plus a handle)."""
        if context.has_asset_partitions:
            paths = self._get_paths_for_partitions(context)  # one run, one batch partition
            if len(paths) != 1:
                raise dg.DagsterInvariantViolationError(
                    "one partition per run expected (multi-run backfills)"
                )
            path = next(iter(paths.values()))
        else:
            path = self._get_path(context)
        self.make_directory(path.parent)
        if isinstance(obj, GalleryPlan):  # the batch's plan: parts on disk, a handle in the pickle
            parts = self.parts_path(path)
            remove_parts(parts)  # an earlier run's parts for this partition: this run's plan replaces them
            obj = store_plan(obj, parts / context.run_id)
        self.dump_to_path(context=context, obj=obj, path=path)

    @staticmethod
    def parts_path(frame_path: UPath) -> Path:
        """Where the parts of the output stored at `frame_path` live (one directory per run under it)."""
        return Path(f"{frame_path}.parts")

    def frame_path(self, asset_key: dg.AssetKey, partition_key: str | None) -> UPath:
        """Where handle_output wrote this asset's output for the partition (UPathIOManager's rule)."""
        asset_path = self._base_path.joinpath(*asset_key.path)
        if partition_key is None:
            return self._with_extension(asset_path)
        return self._with_extension(self.make_safe_partition_path(asset_path, partition_key))

    def delete_frames(self, asset_keys: Iterable[dg.AssetKey], partition_key: str | None) -> list[str]:
        """Delete the stored outputs of these assets for the partition; the paths deleted."""
        deleted = []
        for key in asset_keys:
            path = self.frame_path(key, partition_key)
            if path.exists():
                path.unlink()
                deleted.append(str(path))
            if remove_parts(self.parts_path(path)):
                deleted.append(str(self.parts_path(path)))
        return deleted


class PathlessFilesystemIOManager(dg.FilesystemIOManager):
    """The jobs' io_manager: pickles without the path metadata, deleted per the retention policy above."""

    def create_io_manager(self, context: dg.InitResourceContext) -> PickledObjectFilesystemIOManager:
        """The run-scoped manager on the instance's storage directory (or `base_dir`)."""
        base_dir = self.base_dir or (context.instance.storage_directory() if context.instance else None)
        return RunScopedPickleIOManager(base_dir=base_dir)
