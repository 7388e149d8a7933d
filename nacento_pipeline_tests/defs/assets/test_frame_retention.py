"""What a run leaves in Dagster's storage: frames passed between assets are gone once the run no longer needs
them (resources/io_manager.py); a failed run keeps exactly what re-executing its failed step would load."""

import pickle
from pathlib import Path

import dagster as dg

from nacento_pipeline.defs.assets import batch_assets
from nacento_pipeline.defs.assets.batch_assets import GalleryChanges
from nacento_pipeline.defs.constants import BATCH_JOB
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.storage.drop.samples import drop_sample_batch

FRAME_ASSETS = ("pim_batch", "image_etags", "gallery_delta", "magento_gallery")


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _frames(root: Path, partition: str) -> set[str]:
    return {asset for asset in FRAME_ASSETS if (root / asset / partition).exists()}


def test_a_successful_run_leaves_only_the_writes_summary_in_storage(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success
    root = Path(instance.storage_directory())
    # the frames are gone; magento_gallery's summary (changed product ids, content-changed paths) stays
    assert _frames(root, batch.batch_key) == {"magento_gallery"}
    assert not (root / "gallery_delta" / f"{batch.batch_key}.parts").exists()  # the plan's parts went with it
    assert not (root / "gallery_delta" / ".planning").exists()  # planned into parts, moved into place
    summary = pickle.loads((root / "magento_gallery" / batch.batch_key).read_bytes())
    assert isinstance(summary, GalleryChanges) and len(summary.changed_entity_ids) == 12
    assert (root / "magento_gallery" / batch.batch_key).stat().st_size < 1024
    files = _files(root)
    # the rest is the run's compute logs: small text
    assert all(size < 64 * 1024 for size in files.values()), files
    assert sum(files.values()) < 256 * 1024, files


def test_a_downstream_asset_re_materialized_alone_reads_the_kept_summary(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success
    again = p.defs.resolve_job_def(BATCH_JOB).execute_in_process(
        instance=instance, partition_key=batch.batch_key, asset_selection=[dg.AssetKey("storefront_cache")]
    )
    assert again.success
    assert _frames(Path(instance.storage_directory()), batch.batch_key) == {"magento_gallery"}


def test_a_failed_write_keeps_the_inputs_a_re_execution_loads(s3_mariadb_pipeline, instance, monkeypatch):
    p = s3_mariadb_pipeline

    def broken_write(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(batch_assets, "write_gallery", broken_write)
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert not result.success
    root = Path(instance.storage_directory())
    # magento_gallery failed: its one input (the plan) stays for "re-execute from failure"; the batch and the
    # ETags, read by no remaining step, are gone; nothing else was made
    assert _frames(root, batch.batch_key) == {"gallery_delta"}
    assert p.gallery().empty
    # the plan kept is a handle in Dagster's storage; its chunks are parts in a directory of the planning run
    handle = pickle.loads((root / "gallery_delta" / batch.batch_key).read_bytes())
    [run_dir] = (root / "gallery_delta" / f"{batch.batch_key}.parts").iterdir()
    assert run_dir.name == result.run_id and [f.name for f in run_dir.iterdir()] == ["part-00000.pickle"]
    assert handle.stored is not None and handle.request.images.empty and handle.sku_count() == 12

    monkeypatch.undo()
    rerun = p.defs.resolve_job_def(BATCH_JOB).execute_in_process(
        instance=instance, partition_key=batch.batch_key
    )
    assert rerun.success
    # the partition's next successful run releases them, the plan's parts with the plan
    assert _frames(root, batch.batch_key) == {"magento_gallery"}
    assert not (root / "gallery_delta" / f"{batch.batch_key}.parts").exists()


def test_a_validation_run_leaves_no_frame_either(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch_key, result = p.validate_sample_batch(instance)
    assert result.success
    # gallery_delta has no reader in this job: released as soon as its step succeeded
    assert _frames(Path(instance.storage_directory()), batch_key) == set()
