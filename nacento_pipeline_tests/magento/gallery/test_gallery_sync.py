"""The sync engine against real databases (SQLite and MariaDB): table contents after each scenario."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pymysql
import pytest
import sqlalchemy as sa

from nacento_pipeline.magento.demo import seed_demo_products
from nacento_pipeline.magento.gallery.sync import plan_gallery, write_gallery
from nacento_pipeline_tests.helpers import FakeBatch, image_frame, rejection_frame
from nacento_pipeline_tests.magento.gallery_helpers import (
    T1,
    A,
    B,
    C,
    count,
    etags_for,
    gallery,
    legacy_rows,
    roles,
    sync,
)
from nacento_pipeline_tests.magento.magento_admin import admin_remove_image


def test_first_sync_then_resync_writes_nothing(db):
    rows = [
        ("S1", A, "front", 1, False, "image|small_image"),
        ("S1", B, "back", 2, True, "thumbnail"),
        ("S2", C, "", 0, False, ""),
    ]
    first = sync(db, rows)
    assert first.totals()["inserted"] == 3 and first.totals()["ok"] == 2 and first.errors == []
    assert gallery(db, "S1") == [(A, "front", 1, 0, "1-" + A), (B, "back", 2, 1, "1-" + B)]
    assert gallery(db, "S2") == [(C, None, 0, 0, "1-" + C)]  # an empty label is NULL, as Magento writes it
    assert roles(db, "S1") == {
        "image": A,
        "small_image": A,
        "thumbnail": B,
        "swatch_image": "no_selection",
        "image_label": "front",
        "small_image_label": "front",
        "thumbnail_label": "back",
    }
    assert roles(db, "S2") == dict.fromkeys(
        ("image", "small_image", "thumbnail", "swatch_image"), "no_selection"
    )
    assert first.changed_entity_ids == sorted(first.sku_results["entity_id"].tolist())
    with db.engine.connect() as conn:
        state = conn.execute(sa.select(db.tables.sku_sync_state).order_by("sku")).mappings().all()
    assert [(s["sku"], s["last_batch_key"], s["last_batch_time"]) for s in state] == [
        ("S1", "media_1", datetime(2026, 3, 1, 12, 0, 0, 654321)),
        ("S2", "media_1", datetime(2026, 3, 1, 12, 0, 0, 654321)),
    ]

    again = sync(db, rows)
    assert again.write_statements == 0 and again.items.empty  # digests unchanged: no SKU planned
    assert again.changed_entity_ids == []
    forced = sync(db, rows, force=True)  # planned again: the delta rules find nothing to change either
    assert forced.write_statements == 0
    assert set(forced.items["action"]) == {"skipped_no_change"} and forced.delta.roles.empty


def test_changed_file_and_metadata_only_change(db):
    sync(db, [("S1", A, "x", 1), ("S1", B, "y", 2)])
    result = sync(db, [("S1", A, "x", 1), ("S1", B, "y2", 3)], version="2", batch_key="media_2")
    assert result.counts()["updated_value"] == 2  # ETags changed for both
    assert gallery(db, "S1") == [(A, "x", 1, 0, "2-" + A), (B, "y2", 3, 0, "2-" + B)]
    meta_only = sync(db, [("S1", A, "x", 1, True), ("S1", B, "y2", 3)], version="2", batch_key="media_3")
    assert meta_only.counts()["updated_meta"] == 1 and meta_only.counts()["skipped_no_change"] == 1
    assert gallery(db, "S1")[0] == (A, "x", 1, 1, "2-" + A)


def test_replace_purges_but_not_missing_files_nor_empty_payloads(db):
    sync(db, [("S1", A), ("S1", B), ("S1", C), ("S2", A)])
    result = sync(db, [("S1", A), ("S1", B)], missing=[B], batch_key="media_2")
    assert result.counts()["purged"] == 1 and result.counts()["invalid"] == 1
    assert [g[0] for g in gallery(db, "S1")] == [A, B]  # C purged, B (missing file) kept
    assert count(db, db.tables.media_gallery) == 3  # one row per product and path (4), C's deleted with it
    # S2's only payload image is missing: no valid image, nothing purged
    sync(db, [("S2", B)], missing=[B], batch_key="media_3")
    assert [g[0] for g in gallery(db, "S2")] == [A]
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.tables.gallery_meta)).scalar() == 3


def test_upsert_mode_never_purges(db):
    sync(db, [("S1", A)])
    result = sync(db, [("S1", B)], mode="upsert", batch_key="media_2")
    assert result.counts()["purged"] == 0
    assert [g[0] for g in gallery(db, "S1")] == [A, B]


def test_two_skus_with_the_same_path_get_a_row_each(db):
    sync(db, [("S1", A, "one")])
    sync(db, [("S2", A, "two")], batch_key="media_2")
    assert count(db, db.tables.media_gallery) == 2  # Magento never shares a media_gallery row
    assert count(db, db.tables.value_to_entity) == 2
    with db.engine.connect() as conn:
        t = db.tables
        assert conn.execute(sa.select(sa.func.count(sa.distinct(t.value_to_entity.c.value_id)))).scalar() == 2
    assert gallery(db, "S1") == [(A, "one", 0, 0, "1-" + A)] and gallery(db, "S2") == [
        (A, "two", 0, 0, "1-" + A)
    ]


def test_legacy_no_slash_rows_recognised_and_deduped(db):
    legacy_rows(db, "S1", ["a/b/a.jpg"])
    legacy_rows(db, "S2", ["a/b/c.jpg", C])
    result = sync(db, [("S1", A, "old"), ("S2", C, "old")])
    assert result.counts()["inserted"] == 0
    assert result.counts()["deduped"] == 1 and result.totals()["deduped_path_variants"] == 1
    assert [g[0] for g in gallery(db, "S1")] == ["a/b/a.jpg"]  # recognised, ETag stored on it
    assert gallery(db, "S1")[0][4] == "1-" + A
    assert [g[0] for g in gallery(db, "S2")] == [C]  # canonical row kept
    assert count(db, db.tables.media_gallery) == 2  # the collapsed variant was S2's own row: deleted with it


def test_unknown_sku_is_an_error_others_written(db):
    result = sync(db, [("NOPE", A), ("S1", B)])
    res = result.sku_results.set_index("sku")
    assert res.loc["NOPE", "status"] == "error" and "NOPE" in res.loc["NOPE", "message"]
    assert res.loc["S1", "status"] == "ok" and gallery(db, "S1")[0][0] == B
    assert count(db, db.tables.media_gallery) == 1


def test_near_miss_sku_is_reported(db):
    seed_demo_products(db.engine, ["Case-Sku"], db.prefix)
    result = sync(db, [("case-sku", A)])
    res = result.sku_results.set_index("sku")
    assert res.loc["case-sku", "status"] == "error" and "near miss" in res.loc["case-sku", "message"]
    assert "near miss" in result.delta.warnings["reason"].iloc[0]
    assert gallery(db, "Case-Sku") == []


def test_missing_file_leaves_roles_untouched(db):
    sync(db, [("S1", A, "", 0, False, "image")])
    result = sync(db, [("S1", B, "", 0, False, "image"), ("S1", C)], missing=[C], batch_key="media_2")
    assert result.counts()["invalid"] == 1
    assert roles(db, "S1")["image"] == A
    assert "role sync skipped" in result.sku_results["message"].iloc[0]


def test_rejected_image_blocks_roles_and_purge_of_its_path(db):
    sync(db, [("S1", A, "", 0, False, "image"), ("S1", B), ("S1", "/a/b/d.jpg")])
    result = sync(
        db,
        [("S1", C, "", 0, False, "image")],
        invalid_skus={"S1"},
        extra_payload=[("S1", B)],
        rejections=rejection_frame([("S1", "label", "label too long")]),
        batch_key="media_2",
    )
    # d purged; B (rejected in payload) kept; A kept because the frozen image role still names it
    assert [g[0] for g in gallery(db, "S1")] == [A, B, C]
    assert roles(db, "S1")["image"] == A
    assert result.sku_results["rejected"].tolist() == [1]


def test_stale_batch_skipped_unless_forced(db):
    sync(db, [("S1", A)], batch_key="media_new", batch_time=datetime(2026, 3, 2, tzinfo=UTC))
    old = sync(db, [("S1", B)], batch_key="media_old", batch_time=T1)
    assert old.sku_results["status"].tolist() == ["stale"] and old.write_statements == 0
    assert [g[0] for g in gallery(db, "S1")] == [A]
    forced = sync(db, [("S1", B)], batch_key="media_old", batch_time=T1, force=True)
    assert forced.sku_results["status"].tolist() == ["ok"]
    assert [g[0] for g in gallery(db, "S1")] == [B]


def test_plan_is_read_only_and_matches_write(db):
    batch = FakeBatch(image_frame([("S1", A), ("S2", B)]))
    before = db.statements()[1]
    plan = plan_gallery(db, batch, etags_for([A, B]), mode="replace", chunk_size=1)
    assert db.statements()[1] == before and plan.counts()["inserted"] == 2
    assert count(db, db.tables.media_gallery) == 0


def test_negative_positions_are_stored_shifted(db):
    sync(db, [("S1", A, "", -3), ("S1", B, "", 2)])
    assert [(g[0], g[2]) for g in gallery(db, "S1")] == [(A, 0), (B, 5)]


def test_permanent_error_isolated_to_one_sku(db, monkeypatch):
    from nacento_pipeline.magento.gallery import chunks as gallery_chunks

    original = gallery_chunks.write_chunk

    def failing(conn, db_, attrs, delta, state, **kw):
        if "S2" in set(delta.items["sku"]):
            raise ValueError("Data too long for column 'label'")
        return original(conn, db_, attrs, delta, state, **kw)

    monkeypatch.setattr(gallery_chunks, "write_chunk", failing)
    result = sync(db, [("S1", A), ("S2", B), ("S3", C)])
    res = result.sku_results.set_index("sku")["status"]
    assert (res["S1"], res["S2"], res["S3"]) == ("ok", "error", "ok")
    assert gallery(db, "S2") == [] and [g[0] for g in gallery(db, "S1")] == [A]
    assert any("S2" in e for e in result.errors)


def test_retriable_error_is_retried(db, monkeypatch):
    from nacento_pipeline.magento.gallery import chunks as gallery_chunks
    from nacento_pipeline.magento.gallery import sync as gallery_sync

    original = gallery_chunks.write_chunk
    calls = []

    def flaky(*args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")
        return original(*args, **kw)

    monkeypatch.setattr(gallery_chunks, "write_chunk", flaky)
    images = image_frame([("S1", A)])
    plan = plan_gallery(db, FakeBatch(images), etags_for([A]), mode="replace", batch_key="b")
    result = gallery_sync.sync_request(db, plan, sleep=lambda s: None)
    assert result.retries == 1 and result.errors == [] and [g[0] for g in gallery(db, "S1")] == [A]


@pytest.mark.parametrize("prefix", ["mg_"], ids=["prefix"])
def test_table_prefix(db):
    assert db.tables.media_gallery.name == "mg_catalog_product_entity_media_gallery"
    sync(db, [("S1", A, "p", 0, False, "image")])
    assert gallery(db, "S1") == [(A, "p", 0, 0, "1-" + A)]
    assert roles(db, "S1")["image"] == A


def test_statements_per_chunk_do_not_grow_with_images(db):
    seed_demo_products(db.engine, ["M1", "M2", "M3", "M4"], db.prefix)
    small = sync(db, [("S1", A), ("S2", B)])
    many = [(sku, f"/m/{sku}/{i}.jpg", f"l{i}", i) for sku in ("M1", "M2") for i in range(25)]
    big = sync(db, many, batch_key="media_2")
    assert big.counts()["inserted"] == 50
    assert big.write_statements == small.write_statements
    changed = [(sku, f"/m/{sku}/{i}.jpg", "new", i) for sku in ("M1", "M2") for i in range(25)]
    assert sync(db, changed, batch_key="media_3").counts()["updated_meta"] == 50
    assert [g[1] for g in gallery(db, "M1")] == ["new"] * 25


def test_product_videos_are_not_the_pims_and_are_never_purged(db):
    sync(db, [("S1", A), ("S1", B)])
    t = db.tables
    with db.engine.begin() as conn:  # a video added in Magento's admin (media_type external-video)
        video_id = conn.execute(
            t.media_gallery.insert().values(
                attribute_id=db.attribute_ids().media_gallery,
                value="/v/i/video-thumb.jpg",
                media_type="external-video",
            )
        ).inserted_primary_key[0]
        entity_id = conn.execute(sa.select(t.product.c.entity_id).where(t.product.c.sku == "S1")).scalar()
        conn.execute(t.value_to_entity.insert().values(value_id=video_id, entity_id=entity_id))
        conn.execute(
            t.media_gallery_value.insert().values(
                value_id=video_id, entity_id=entity_id, store_id=0, label="video", position=9, disabled=0
            )
        )
    result = sync(db, [("S1", A)], batch_key="media_2")  # replace mode: B goes, the video stays
    assert result.counts()["purged"] == 1
    assert [g[0] for g in gallery(db, "S1")] == sorted([A, "/v/i/video-thumb.jpg"])


def test_retriable_error_that_persists_fails_the_write_instead_of_blaming_each_sku(db, monkeypatch):
    from nacento_pipeline.magento.gallery import chunks as gallery_chunks
    from nacento_pipeline.magento.gallery import sync as gallery_sync

    def down(*args, **kw):
        raise pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")

    monkeypatch.setattr(gallery_chunks, "write_chunk", down)
    plan = plan_gallery(
        db, FakeBatch(image_frame([("S1", A), ("S2", B)])), etags_for([A, B]), mode="replace", batch_key="b"
    )
    with pytest.raises(pymysql.err.OperationalError, match="Lost connection"):
        gallery_sync.sync_request(db, plan, sleep=lambda s: None)
    assert gallery(db, "S1") == [] and gallery(db, "S2") == []


def test_a_new_image_never_reuses_another_products_row_nor_an_orphan(db):
    sync(db, [("S1", A)])
    with db.engine.begin() as conn:  # a legacy no-slash row for B that no product uses any more
        conn.execute(
            db.tables.media_gallery.insert().values(
                attribute_id=db.attribute_ids().media_gallery, value=B.lstrip("/"), media_type="image"
            )
        )
    sync(db, [("S1", A), ("S2", A), ("S2", B), ("S3", A), ("S3", C)], batch_key="media_2")
    assert count(db, db.tables.media_gallery) == 6  # S1's A, the orphan, and one row per new (product, path)
    assert [g[0] for g in gallery(db, "S2")] == sorted([A, B])
    assert [g[0] for g in gallery(db, "S3")] == sorted([A, C])
    t = db.tables
    with db.engine.connect() as conn:
        per_row = conn.execute(
            sa.select(t.value_to_entity.c.value_id, sa.func.count()).group_by(t.value_to_entity.c.value_id)
        ).all()
    assert {n for _, n in per_row} == {1}


def test_rows_inserted_by_a_rolled_back_chunk_leave_nothing_behind(db, monkeypatch):
    from nacento_pipeline.magento.gallery import chunks as gallery_chunks
    from nacento_pipeline.magento.gallery import sync as gallery_sync

    original = gallery_chunks.write_chunk

    def fail_s1_after_writing(conn, db_, attrs, delta, state, **kw):
        original(conn, db_, attrs, delta, state, **kw)
        if "S1" in set(delta.items["sku"]):
            raise ValueError("permanent failure after the insert")

    monkeypatch.setattr(gallery_chunks, "write_chunk", fail_s1_after_writing)
    images = image_frame([("S1", C), ("S2", C), ("S3", C)])
    plan = plan_gallery(db, FakeBatch(images), etags_for([C]), mode="replace", chunk_size=1, batch_key="b")
    result = gallery_sync.sync_request(db, plan, sleep=lambda s: None)
    status = result.sku_results.set_index("sku")["status"]
    assert (status["S1"], status["S2"], status["S3"]) == ("error", "ok", "ok")
    assert gallery(db, "S1") == [] and [g[0] for g in gallery(db, "S2")] == [C] == [
        g[0] for g in gallery(db, "S3")
    ]
    assert count(db, db.tables.media_gallery) == 2  # S2's and S3's own rows; S1's insert was rolled back


def _counting_delta_calls(monkeypatch) -> list[int]:
    """Count the delta computations of the engine (plan and write)."""
    from nacento_pipeline.magento.gallery import plan as gallery_plan

    calls: list[int] = []
    original = gallery_plan.delta_for

    def counted(*args, **kw):
        calls.append(1)
        return original(*args, **kw)

    monkeypatch.setattr(gallery_plan, "delta_for", counted)
    return calls


def test_each_chunks_delta_is_computed_once_from_plan_to_write(db, monkeypatch):
    calls = _counting_delta_calls(monkeypatch)
    plan = plan_gallery(
        db,
        FakeBatch(image_frame([("S1", A), ("S2", B), ("S3", C)])),
        etags_for([A, B, C]),
        mode="replace",
        chunk_size=1,
        batch_key="media_1",
        batch_time=T1,
    )
    assert len(calls) == 1 and len(plan.chunks) == 3  # the chunks planned together: one delta, cut per chunk
    result = write_gallery(db, plan, run_id="run-1")
    assert len(calls) == 1 and result.chunks == 3 and result.replanned_chunks == 0  # the write computes none
    assert result.counts() == plan.counts() and result.counts()["inserted"] == 3
    assert [g[0] for g in gallery(db, "S1")] == [A] and [g[0] for g in gallery(db, "S3")] == [C]


def test_a_plan_survives_pickling_and_writes_the_same(db):
    plan = plan_gallery(
        db,
        FakeBatch(image_frame([("S1", A, "front", 1, False, "image")])),
        etags_for([A]),
        mode="replace",
        batch_key="media_1",
        batch_time=T1,
    )
    assert plan.counts()["inserted"] == 1 and "delta" not in vars(plan)  # summed per chunk, nothing joined
    assert len(plan.items) == 1  # the joined delta, cached, is not part of the pickle
    assert "delta" in vars(plan) and "delta" not in vars(pickle.loads(pickle.dumps(plan)))
    result = write_gallery(db, pickle.loads(pickle.dumps(plan)), run_id="run-1")
    assert result.replanned_chunks == 0 and result.counts()["inserted"] == 1
    assert gallery(db, "S1") == [(A, "front", 1, 0, "1-" + A)] and roles(db, "S1")["image"] == A


def test_an_admin_edit_between_plan_and_write_replans_that_chunk_only(db, monkeypatch):
    sync(db, [("S1", A, "old", 1, False, "image"), ("S1", B, "b", 2), ("S2", C)])
    plan = plan_gallery(
        db,
        FakeBatch(image_frame([("S1", A, "new", 1, False, "image"), ("S2", C, "c", 0)])),
        etags_for([A, C]),
        mode="replace",
        chunk_size=1,
        batch_key="media_2",
        batch_time=T1,
    )
    assert (
        plan.counts()["updated_meta"] == 2 and plan.counts()["purged"] == 1 and plan.counts()["inserted"] == 0
    )
    admin_remove_image(db, "S1", A)  # between plan and write: A leaves S1's gallery and its roles
    calls = _counting_delta_calls(monkeypatch)
    result = write_gallery(db, plan, run_id="run-2")
    assert result.replanned_chunks == 1 and len(calls) == 1  # S1's chunk, planned again; S2's as planned
    actions = result.items.set_index(["sku", "value"])["action"]
    assert (actions[("S1", A)], actions[("S1", B)], actions[("S2", C)]) == (
        "inserted",
        "purged",
        "updated_meta",
    )
    assert gallery(db, "S1") == [(A, "new", 1, 0, "1-" + A)] and roles(db, "S1")["image"] == A
    assert gallery(db, "S2") == [(C, "c", 0, 0, "1-" + C)]


def test_a_no_op_resync_issues_no_write_statement_and_no_second_delta(db, monkeypatch):
    rows = [
        ("S1", A, "front", 1, False, "image|small_image"),
        ("S1", B, "back", 2, True, "thumbnail"),
        ("S2", C, "", 0, False, ""),
    ]
    sync(db, rows)
    t = db.tables
    with db.engine.connect() as conn:
        stamps = conn.execute(
            sa.select(t.product.c.sku, t.product.c.updated_at).order_by(t.product.c.sku)
        ).all()
        state = conn.execute(sa.select(t.sku_sync_state).order_by(t.sku_sync_state.c.sku)).all()
    calls = _counting_delta_calls(monkeypatch)
    writes_before = db.statements()[1]
    again = sync(db, rows)  # plan and write: both SKUs' digests unchanged, nothing planned
    assert db.statements()[1] - writes_before == 0 == again.write_statements
    assert len(calls) == again.chunks == 0 and again.replanned_chunks == 0
    assert again.items.empty
    with db.engine.connect() as conn:
        assert (
            conn.execute(sa.select(t.product.c.sku, t.product.c.updated_at).order_by(t.product.c.sku)).all()
            == stamps
        )
        assert conn.execute(sa.select(t.sku_sync_state).order_by(t.sku_sync_state.c.sku)).all() == state


def test_unknown_skus_are_those_no_product_carries(db):
    with db.engine.begin() as conn:  # a second product carrying S2: ambiguous, an error but not unknown
        conn.execute(db.tables.product.insert().values(sku="S2", attribute_set_id=4))
    plan = plan_gallery(
        db,
        FakeBatch(image_frame([("S1", A), ("S2", B), ("NOPE", C)])),
        etags_for([A, B, C]),
        mode="replace",
        chunk_size=2,
    )
    status = plan.sku_results.set_index("sku")["status"]
    assert (status["S2"], status["NOPE"]) == ("error", "error")
    assert plan.unknown_skus == ("NOPE",)


def _edit_label(db, t):
    with db.engine.begin() as conn:  # same length: only a digest of the content sees it
        conn.execute(
            sa.update(t.media_gallery_value)
            .where(t.media_gallery_value.c.label == "front")
            .values(label="back!")
        )


def _edit_etag(db, t):
    with db.engine.begin() as conn:
        conn.execute(sa.update(t.gallery_meta).values(s3_etag="1-/a/b/X.jpg"))


def _edit_role(db, t):
    with db.engine.begin() as conn:
        conn.execute(sa.update(t.varchar).where(t.varchar.c.value == B).values(value=A))


def _edit_sync_state(db, t):
    with db.engine.begin() as conn:
        conn.execute(sa.update(t.sku_sync_state).values(last_run_id="other"))


def _share_with_another_product(db, t):
    with db.engine.begin() as conn:  # S3 gets linked to one of S1's media_gallery rows
        value_id = conn.execute(sa.select(sa.func.min(t.value_to_entity.c.value_id))).scalar()
        s3 = conn.execute(sa.select(t.product.c.entity_id).where(t.product.c.sku == "S3")).scalar()
        conn.execute(t.value_to_entity.insert().values(value_id=value_id, entity_id=s3))


def _create_missing_product(db, t):
    seed_demo_products(db.engine, ["NEW"], db.prefix)


@pytest.mark.parametrize(
    "edit",
    [
        _edit_label,
        _edit_etag,
        _edit_role,
        _edit_sync_state,
        _share_with_another_product,
        _create_missing_product,
    ],
)
def test_the_chunk_fingerprint_sees_every_kind_of_edit_and_nothing_else(db, edit):
    from nacento_pipeline.magento.gallery.reader import read_chunk_state, state_fingerprint

    sync(db, [("S1", A, "front", 1, False, "image"), ("S1", B, "back", 2, False, "thumbnail")])
    attrs, t = db.attribute_ids(), db.tables

    with db.engine.connect() as conn:  # the products as the plan found them ("NEW" has none yet)
        products = read_chunk_state(conn, t, attrs, ["S1", "NEW"]).products

    def fingerprint():
        with db.engine.connect() as conn:
            return state_fingerprint(conn, t, attrs, ["S1", "NEW"], products)

    before = fingerprint()
    assert fingerprint() == before
    edit(db, t)
    assert fingerprint() != before
