"""Applied per SKU: a re-sync plans only the SKUs whose batch, ETags or product changed (SQLite, MariaDB)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from nacento_pipeline.magento import bulk_read
from nacento_pipeline.magento.gallery.digest import applied_digests, changed_since_applied, forget
from nacento_pipeline.magento.gallery.sync import plan_gallery, write_gallery
from nacento_pipeline_tests.helpers import FakeBatch, image_frame
from nacento_pipeline_tests.magento.gallery_helpers import T1, A, B, C, etags_for, gallery, sync

ROWS = [
    ("S1", A, "front", 1, False, "image"),
    ("S1", B, "back", 2),
    ("S2", C, "c", 1, False, "image"),
    ("S3", A, "three", 1),
]


def plan(db, rows, *, version="1", versions=None, batch_key="media_1", batch_time=T1, force=False):
    images = image_frame(rows)
    etags = etags_for(set(images["value"]), version)
    for value, other in (versions or {}).items():
        etags.loc[etags["value"] == value, "etag"] = f"{other}-{value}"
    return plan_gallery(
        db,
        FakeBatch(images),
        etags,
        mode="replace",
        batch_time=batch_time,
        force=force,
        chunk_size=2,
        batch_key=batch_key,
    )


def digest_rows(db):
    d = db.tables.sku_digest
    with db.engine.connect() as conn:
        return {r.sku: r for r in conn.execute(sa.select(d))}


def admin_save(db, sku, label):
    """The admin changes the label of the SKU's first image and saves the product: Magento sets updated_at
    (a second later than our write here, as an edit made later would)."""
    t = db.tables
    with db.engine.begin() as conn:
        link, when = conn.execute(
            sa.select(t.product.c[t.link], t.product.c.updated_at).where(t.product.c.sku == sku)
        ).one()
        conn.execute(
            t.media_gallery_value.update()
            .where(
                t.media_gallery_value.c[t.link] == link,
                t.media_gallery_value.c.store_id == 0,
                t.media_gallery_value.c.position == 1,
            )
            .values(label=label)
        )
        conn.execute(
            t.product.update()
            .where(t.product.c[t.link] == link)
            .values(updated_at=when + timedelta(seconds=1))
        )


def sql_edit(db, sku, label):
    """The same label change made in SQL straight into the gallery table: updated_at is left as it was."""
    t = db.tables
    with db.engine.begin() as conn:
        link = conn.execute(sa.select(t.product.c[t.link]).where(t.product.c.sku == sku)).scalar_one()
        conn.execute(
            t.media_gallery_value.update()
            .where(
                t.media_gallery_value.c[t.link] == link,
                t.media_gallery_value.c.store_id == 0,
                t.media_gallery_value.c.position == 1,
            )
            .values(label=label)
        )


def test_noop_resync_plans_no_sku_and_writes_nothing(db):
    first = write_gallery(db, plan(db, ROWS), run_id="run-1")
    assert first.totals()["ok"] == 3
    recorded = digest_rows(db)
    assert sorted(recorded) == ["S1", "S2", "S3"]
    assert all(r.product_updated_at is not None and r.gallery_checksum for r in recorded.values())

    again = plan(db, ROWS)
    assert again.unchanged_skus == ("S1", "S2", "S3")
    assert len(again.sku_results) == 0 and again.chunks == ()
    written = write_gallery(db, again, run_id="run-2")
    assert written.write_statements == 0 and written.changed_entity_ids == []
    assert changed_since_applied(db).empty


def test_changed_content_label_or_mode_plans_only_those_skus(db):
    write_gallery(db, plan(db, ROWS), run_id="run-1")
    new_content = plan(db, ROWS, versions={C: "2"})  # C re-uploaded: only S2 carries it
    assert list(new_content.sku_results["sku"]) == ["S2"] and new_content.unchanged_skus == ("S1", "S3")
    write_gallery(db, new_content, run_id="run-2")
    assert gallery(db, "S2") == [(C, "c", 1, 0, "2-" + C)]

    relabelled = [("S1", A, "front", 1, False, "image"), ("S1", B, "BACK", 2), *ROWS[2:]]
    changed = plan(db, relabelled, versions={C: "2"}, batch_key="media_2")
    assert list(changed.sku_results["sku"]) == ["S1"]
    assert changed.counts()["updated_meta"] == 1
    write_gallery(db, changed, run_id="run-3")
    assert gallery(db, "S1")[1] == (B, "BACK", 2, 0, "1-" + B)
    assert plan(db, relabelled, versions={C: "2"}, batch_key="media_2").sku_results.empty

    forced = plan(db, relabelled, versions={C: "2"}, batch_key="media_2", force=True)
    assert sorted(forced.sku_results["sku"]) == ["S1", "S2", "S3"]


def test_a_product_saved_in_the_admin_is_planned_again_and_restored(db):
    write_gallery(db, plan(db, ROWS), run_id="run-1")
    admin_save(db, "S1", "edited in admin")
    again = plan(db, ROWS)
    assert list(again.sku_results["sku"]) == ["S1"] and again.counts()["updated_meta"] == 1
    write_gallery(db, again, run_id="run-2")
    assert gallery(db, "S1")[0] == (A, "front", 1, 0, "1-" + A)
    assert plan(db, ROWS).sku_results.empty


def test_an_edit_bypassing_updated_at_is_reported_by_the_audit(db):
    write_gallery(db, plan(db, ROWS), run_id="run-1")
    sql_edit(db, "S2", "edited in SQL")
    assert plan(db, ROWS).sku_results.empty  # the re-sync cannot see it ...
    drift = changed_since_applied(db)
    assert list(drift["sku"]) == ["S2"]  # ... the audit does
    assert forget(db, drift["sku"].tolist()) == 1
    again = plan(db, ROWS)
    assert list(again.sku_results["sku"]) == ["S2"]
    write_gallery(db, again, run_id="run-2")
    assert gallery(db, "S2") == [(C, "c", 1, 0, "1-" + C)]
    assert changed_since_applied(db).empty


def test_skus_with_a_problem_are_not_recorded(db):
    rows = [*ROWS, ("S4-unknown", A)]
    first = sync(db, rows, missing=(B,))  # S1 partial (B missing), S4 unknown
    assert set(first.sku_results.loc[first.sku_results["message"] != "", "sku"]) >= {"S1"}
    assert sorted(digest_rows(db)) == ["S2", "S3"]


def test_a_newer_identical_batch_advances_the_sync_state_so_an_older_one_stays_stale(db):
    write_gallery(db, plan(db, ROWS), run_id="run-1")
    newer = plan(db, ROWS, batch_key="media_3", batch_time=T1 + timedelta(hours=2))
    assert newer.sku_results.empty
    write_gallery(db, newer, run_id="run-2")
    with db.engine.connect() as conn:
        st = db.tables.sku_sync_state
        assert set(conn.execute(sa.select(st.c.last_batch_key)).scalars()) == {"media_3"}
    older = plan(db, [("S1", C, "older")], batch_key="media_2", batch_time=T1 + timedelta(hours=1))
    assert set(older.sku_results["status"]) == {"stale"}


def test_the_applied_digests_read_alike_by_one_scan_and_by_in_lists(db, monkeypatch):
    """A whole-catalog re-sync reads the digests by one scan of the join: the same digests and batch keys as
    the IN lists, a product saved since (S1) and a SKU never written (S9) absent either way."""
    write_gallery(db, plan(db, ROWS), run_id="run-1")
    admin_save(db, "S1", "edited in admin")
    found = []
    for min_keys in (0, 10**9):  # scan, IN lists
        monkeypatch.setattr(bulk_read, "SCAN_MIN_KEYS", min_keys)
        with db.engine.connect() as conn:
            found.append(applied_digests(conn, db.tables, ["S1", "S2", "S3", "S9", "S2"]).sort_index())
    assert found[0].equals(found[1])
    assert list(found[0].index) == ["S2", "S3"] and set(found[0]["batch_key"]) == {"media_1"}
    recorded = digest_rows(db)
    assert list(found[0]["digest"]) == [recorded["S2"].plan_digest, recorded["S3"].plan_digest]
