"""What a run leaves in Dagster's storage: frames passed between assets are gone once the run no longer needs
them (resources/io_manager.py); a failed run keeps exactly what re-executing its failed step would load."""

from pathlib import Path

from nacento_pipeline.defs.assets import batch_assets
from nacento_pipeline.defs.constants import BATCH_JOB, PARTITIONS_NAME, VALIDATE_JOB
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.storage.drop_registration import register_drops
from nacento_pipeline.storage.sample_drop import drop_sample_batch

FRAME_ASSETS = ("pim_batch", "image_etags", "gallery_delta", "magento_gallery")


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def _frames(root: Path, partition: str) -> set[str]:
    return {asset for asset in FRAME_ASSETS if (root / asset / partition).exists()}


def test_a_successful_run_leaves_no_frame_in_storage(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert result.success
    root = Path(instance.storage_directory())
    assert _frames(root, batch.batch_key) == set()
    files = _files(root)
    # what is left is the run's compute logs: small text, no pickle of a frame
    assert all(size < 64 * 1024 for size in files.values()), files
    assert sum(files.values()) < 256 * 1024, files
    assert not any(name.split("/")[0] in FRAME_ASSETS for name in files), files


def test_a_failed_write_keeps_the_inputs_a_re_execution_loads(s3_mariadb_pipeline, instance, monkeypatch):
    p = s3_mariadb_pipeline

    def broken_write(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(batch_assets, "write_gallery", broken_write)
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    [result] = tick_and_run(p.defs, instance).results
    assert not result.success
    root = Path(instance.storage_directory())
    # magento_gallery failed: its three inputs stay for "re-execute from failure", nothing else was made
    assert _frames(root, batch.batch_key) == {"pim_batch", "image_etags", "gallery_delta"}
    assert p.gallery().empty

    monkeypatch.undo()
    rerun = p.defs.resolve_job_def(BATCH_JOB).execute_in_process(instance=instance, partition_key=batch.batch_key)
    assert rerun.success
    assert _frames(root, batch.batch_key) == set()  # the partition's next successful run releases them


def test_a_validation_run_leaves_no_frame_either(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    register_drops(p.store, drop_prefix=p.settings.drop_prefix, archive_prefix=p.settings.archive_prefix,
                   rejected_prefix=p.settings.rejected_prefix)
    instance.add_dynamic_partitions(PARTITIONS_NAME, [batch.batch_key])
    result = p.defs.resolve_job_def(VALIDATE_JOB).execute_in_process(instance=instance,
                                                                     partition_key=batch.batch_key)
    assert result.success
    # gallery_delta has no reader in this job: released as soon as its step succeeded
    assert _frames(Path(instance.storage_directory()), batch.batch_key) == set()
