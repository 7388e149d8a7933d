"""The daily gallery audit: missing files, ETags changed outside a batch, unlinked rows; the optional fix."""

import sqlalchemy as sa

from nacento_pipeline.defs.constants import AUDIT_JOB
from nacento_pipeline.defs.local_runner import tick_and_run
from nacento_pipeline.storage.drop.samples import drop_sample_batch, image_value, png


def _audit(p, instance, fix=False):
    result = p.defs.resolve_job_def(AUDIT_JOB).execute_in_process(
        instance=instance,
        run_config={"ops": {"gallery_audit": {"config": {"fix": fix}}}},
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
    checks = {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    return meta, checks


def test_audit_reports_drift_and_fix_repairs_what_is_safe(local_pipeline, instance):
    p = local_pipeline
    drop_sample_batch(p.store, p.settings.drop_prefix)
    assert all(r.success for r in tick_and_run(p.defs, instance).results)

    clean, checks = _audit(p, instance)
    assert clean["gallery_rows"] == 36 and clean["missing_files"] == 0 and clean["etag_changed"] == 0
    assert clean["mixed_spelling_files"] == 0 and clean["duplicate_default_value_rows"] == 0
    assert clean["changed_outside_pipeline"] == 0
    assert checks == {"gallery_files_present": True}

    media = p.settings.media_prefix
    p.store.delete([media + image_value("NAC-1003", "side").lstrip("/")])  # file vanished from the bucket
    p.store.put(
        media + image_value("NAC-1004", "back").lstrip("/"), png((1, 2, 3))
    )  # changed outside a batch
    p.store.put(media + "cache/abc123/n/a/nac-1004-back.png", b"resized")  # Magento's cache: not audited
    t = p.db.tables
    with p.db.engine.begin() as conn:  # a gallery path no product links any more
        conn.execute(
            t.media_gallery.insert().values(
                attribute_id=p.db.attribute_ids().media_gallery, value="/o/r/orphan.png", media_type="image"
            )
        )
        # a label edited in SQL straight into Magento's table (no product save): a re-sync of the same batch
        # leaves the SKU alone (its digest is unchanged), so the audit must report it
        link = conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == "NAC-1002")).scalar_one()
        conn.execute(
            t.media_gallery_value.update()
            .where(t.media_gallery_value.c[t.link] == link, t.media_gallery_value.c.store_id == 0)
            .values(label="by hand")
        )

    drift, checks = _audit(p, instance)
    assert drift["missing_files"] == 1
    assert drift["etag_changed"] == 1
    assert drift["unlinked_gallery_rows"] == 1
    assert drift["storage_objects"] == 35
    assert "nac-1003-side.png" in drift["first_missing_files"]
    assert drift["changed_outside_pipeline"] == 1 and "NAC-1002" in drift["first_changed_outside_pipeline"]
    assert checks == {"gallery_files_present": False}

    fixed, _ = _audit(p, instance, fix=True)
    assert fixed["etags_refreshed"] == 1 and fixed["orphans_deleted"] == 1 and fixed["spellings_unified"] == 0
    assert fixed["duplicate_value_rows_deleted"] == 0
    assert (
        fixed["applied_digests_forgotten"] == 2
    )  # NAC-1002 (edited) and NAC-1004 (ETag refreshed): planned again
    after, _ = _audit(p, instance)
    assert after["etag_changed"] == 0 and after["unlinked_gallery_rows"] == 0
    assert after["changed_outside_pipeline"] == 0
    assert after["missing_files"] == 1  # the audit never removes an image
    with p.db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.media_gallery_value)).scalar() == 36
