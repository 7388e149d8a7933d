"""Dagster's filesystem IO manager (same pickle files under `<DAGSTER_HOME>/storage/<asset>/<partition>`), minus
the `path` metadata it adds to every output: an asset's metadata is about the catalog, and a pickle path at
the end of it only distracts an operator."""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.storage.fs_io_manager import PickledObjectFilesystemIOManager


class _PathlessPickleIOManager(PickledObjectFilesystemIOManager):
    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if context.has_asset_partitions:
            paths = self._get_paths_for_partitions(context)  # one run, one batch partition
            if len(paths) != 1:
                raise dg.DagsterInvariantViolationError("one partition per run expected (multi-run backfills)")
            path = next(iter(paths.values()))
        else:
            path = self._get_path(context)
        self.make_directory(path.parent)
        self.dump_to_path(context=context, obj=obj, path=path)


class PathlessFilesystemIOManager(dg.FilesystemIOManager):
    def create_io_manager(self, context: dg.InitResourceContext) -> PickledObjectFilesystemIOManager:
        base_dir = self.base_dir or (context.instance.storage_directory() if context.instance else None)
        return _PathlessPickleIOManager(base_dir=base_dir)
