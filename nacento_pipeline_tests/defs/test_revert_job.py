"""revert_batch on MariaDB + moto S3: a batch's products back to their before-images, its reindex and cache
steps, its metadata; a second revert changes nothing; the audit prunes the journal by age."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import sqlalchemy as sa

from nacento_pipeline.defs.constants import AUDIT_JOB, REVERT_JOB
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.storage.drop.samples import DEMO_SKUS, drop_sample_batch, put_demo_images
from nacento_pipeline_tests.defs.assets.test_blast_radius import dump


def _restore_metadata(result: dg.ExecuteInProcessResult) -> dict:
    [mat] = [
        m.event_specific_data.materialization
        for m in result.get_asset_materialization_events()
        if m.event_specific_data.materialization.asset_key == dg.AssetKey("magento_gallery")
    ]
    return {k: v.value for k, v in mat.metadata.items()}


def test_revert_of_a_batch_of_changes_then_of_the_first_sync(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    empty = dump(p)
    first = drop_sample_batch(p.store, p.settings.drop_prefix)
    tick_and_run(p.defs, instance)
    after_first = dump(p)
    put_demo_images(p.store, p.settings.media_prefix, generation=1)
    second = drop_sample_batch(p.store, p.settings.drop_prefix, generation=1)
    [changed] = tick_and_run(p.defs, instance).results
    assert changed.success and dump(p) != after_first

    job = p.defs.resolve_job_def(REVERT_JOB)
    result = job.execute_in_process(instance=instance, partition_key=second.batch_key)
    assert result.success
    assert dump(p) == after_first  # every row as the first batch left it
    meta = _restore_metadata(result)
    assert (
        meta["reverted"] > 0
        and meta["skipped_changed_since"] == 0
        and meta["reverted_batch"] == second.batch_key
    )
    reindex = result.output_for_node("reindex_reverted").changed_entity_ids
    assert len(reindex) == meta["reverted"]
    assert instance.get_run_by_id(result.run_id).tags["nacento/reindex"] in ("full", "partial")

    again = job.execute_in_process(instance=instance, partition_key=second.batch_key)
    assert again.success and _restore_metadata(again)["reverted"] == 0
    assert _restore_metadata(again)["already_reverted"] == meta["reverted"]
    assert dump(p) == after_first

    whole = job.execute_in_process(instance=instance, partition_key=first.batch_key)
    assert whole.success and _restore_metadata(whole)["reverted"] == len(DEMO_SKUS)
    assert dump(p) == empty


def test_revert_of_a_batch_never_journaled_fails_clearly_and_the_audit_prunes(s3_mariadb_pipeline, instance):
    p = s3_mariadb_pipeline
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    tick_and_run(p.defs, instance)
    j = p.db.tables.batch_journal
    with p.db.engine.begin() as conn:
        now = conn.execute(sa.select(sa.func.current_timestamp())).scalar_one()
        conn.execute(
            sa.update(j).values(created_at=now - timedelta(days=p.settings.journal_retention_days + 1))
        )
    audit = p.defs.resolve_job_def(AUDIT_JOB).execute_in_process(instance=instance)
    [mat] = [m.event_specific_data.materialization for m in audit.get_asset_materialization_events()]
    assert mat.metadata["journal_rows_pruned"].value == len(DEMO_SKUS)

    before = dump(p)
    result = p.defs.resolve_job_def(REVERT_JOB).execute_in_process(
        instance=instance, partition_key=batch.batch_key, raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "nothing to revert" in failure.event_specific_data.error.message
    assert dump(p) == before
