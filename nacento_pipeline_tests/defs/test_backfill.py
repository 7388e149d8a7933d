"""A 3-partition backfill launched through the instance ends with the same database as sequential runs."""

import logging
import time
import uuid
from datetime import UTC, datetime

import boto3
import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.backfill import execute_backfill_iteration

from nacento_pipeline.config import Settings
from nacento_pipeline.defs.constants import BATCH_JOB, PARTITIONS_NAME
from nacento_pipeline.storage.drop.registration import register_drops
from nacento_pipeline.storage.drop.samples import drop_sample_batch, image_value
from nacento_pipeline_tests.defs.harness import make_pipeline

BATCH_ASSETS = ["pim_batch", "image_etags", "gallery_delta", "magento_gallery", "reindex_decision"]


def _drop_three_batches(p) -> list[str]:
    """Three batches touching the same SKUs, dropped a second apart (drop time orders batches per SKU)."""
    drop = p.settings.drop_prefix
    names = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)  # fixed, so both environments get the same batch keys
    keys = [drop_sample_batch(p.store, drop, generation=0, now=names).batch_key]
    time.sleep(1.1)
    keys.append(drop_sample_batch(p.store, drop, generation=1, now=names).batch_key)
    time.sleep(1.1)
    lines = ["sku,file_path,label,position,disabled,roles"]
    lines += [
        f"NAC-1001,{image_value('NAC-1001', v)},third {v},{i},0,{'base' if v == 'side' else ''}"
        for i, v in enumerate(("front", "back", "side"), start=1)
    ]
    p.store.put(f"{drop}import-media_third_01.csv", ("\n".join(lines) + "\n").encode())
    p.store.put(f"{drop}import-media_third.ok", b"")
    keys.append("media_third")
    outcome = register_drops(
        p.store,
        drop_prefix=drop,
        archive_prefix=p.settings.archive_prefix,
        rejected_prefix=p.settings.rejected_prefix,
    )
    assert sorted(r.drop.batch_key for r in outcome.registered) == sorted(keys)
    return keys


def test_backfill_matches_sequential_runs(
    s3_mariadb_pipeline, instance, tmp_path, monkeypatch, mysql_database_factory, moto_endpoint
):
    # sequential: the three batches one after the other, in drop order
    seq = s3_mariadb_pipeline
    keys = _drop_three_batches(seq)
    instance.add_dynamic_partitions(PARTITIONS_NAME, keys)
    job = seq.defs.resolve_job_def(BATCH_JOB)
    for key in keys:
        assert job.execute_in_process(instance=instance, partition_key=key).success
    expected = seq.table_snapshot()

    # backfill: same drops into a fresh bucket and database, launched as one backfill of all three partitions
    bucket = f"nacento-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    env = {
        "NACENTO_MAGENTO_DB_URL": mysql_database_factory(),
        "NACENTO_S3_BUCKET": bucket,
        "NACENTO_S3_ENDPOINT_URL": moto_endpoint,
        "NACENTO_S3_REGION": "us-east-1",
        "NACENTO_VAR_DIR": str(tmp_path / "var2"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    other = make_pipeline(tmp_path, Settings.from_env())
    assert _drop_three_batches(other) == keys
    home = tmp_path / "backfill_home"
    home.mkdir()
    with dg.instance_for_test(
        temp_dir=str(home), synchronous_run_launcher=True, synchronous_run_coordinator=True
    ) as bf_instance:
        # newest first: the order must not matter
        bf_instance.add_dynamic_partitions(PARTITIONS_NAME, list(reversed(keys)))
        target = ModuleTarget(
            module_name="nacento_pipeline_tests.defs.backfill_defs",
            attribute="defs",
            working_directory=None,
            location_name="nacento_pipeline",
        )
        with create_test_daemon_workspace_context(target, bf_instance) as workspace:
            from nacento_pipeline_tests.defs.backfill_defs import defs as bf_defs

            backfill = PartitionBackfill.from_asset_partitions(
                backfill_id="nacento-backfill",
                asset_graph=bf_defs.resolve_asset_graph(),
                partition_names=list(reversed(keys)),
                asset_selection=[dg.AssetKey(k) for k in BATCH_ASSETS],
                backfill_timestamp=time.time(),
                tags={},
                dynamic_partitions_store=bf_instance,
                all_partitions=False,
                title=None,
                description=None,
                run_config=None,
            )
            bf_instance.add_backfill(backfill)
            logger = logging.getLogger("backfill-test")
            for _ in range(30):
                list(execute_backfill_iteration(workspace, logger))
                status = bf_instance.get_backfill("nacento-backfill").status
                if status not in (BulkActionStatus.REQUESTED,):
                    break
            runs = bf_instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": "nacento-backfill"}))
            assert sorted((r.tags["dagster/partition"], r.status.value) for r in runs) == sorted(
                (k, "SUCCESS") for k in keys
            )
            assert bf_instance.get_backfill("nacento-backfill").status in (
                BulkActionStatus.COMPLETED,
                BulkActionStatus.COMPLETED_SUCCESS,
            )
    assert other.table_snapshot() == expected
    other.db.dispose()
