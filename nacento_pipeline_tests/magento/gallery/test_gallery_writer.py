"""The gallery writer's rules: batch order, ETag spelling, legacy rows, purges, rollback, statement counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from nacento_pipeline.magento.demo import seed_demo_products
from nacento_pipeline.magento.gallery import chunk_write as gallery_chunk_write
from nacento_pipeline_tests.magento.gallery_helpers import (
    A,
    B,
    C,
    count,
    gallery,
    legacy_rows,
    roles,
    sync,
)

SAME_SECOND = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)  # S3 LastModified has 1-second resolution


def _values(db, sku):
    return [g[0] for g in gallery(db, sku)]


def test_batches_dropped_in_the_same_second_tie_break_by_batch_key(db):
    # Order of arrival must not matter: the greater batch key wins a tie, whichever runs first.
    sync(db, [("S1", B)], batch_key="media_20260301-1200b", batch_time=SAME_SECOND)
    late_small = sync(db, [("S1", A)], batch_key="media_20260301-1200a", batch_time=SAME_SECOND)
    assert late_small.sku_results["status"].tolist() == ["stale"] and late_small.write_statements == 0
    assert "media_20260301-1200b" in late_small.sku_results["message"].iloc[0]
    assert _values(db, "S1") == [B]

    sync(db, [("S2", A)], batch_key="media_20260301-1200a", batch_time=SAME_SECOND)
    late_big = sync(db, [("S2", B)], batch_key="media_20260301-1200b", batch_time=SAME_SECOND)
    assert late_big.sku_results["status"].tolist() == ["ok"]
    assert _values(db, "S2") == [B]

    # The same batch again (same key, same time) is a re-run, not stale, and writes nothing.
    rerun = sync(db, [("S2", B)], batch_key="media_20260301-1200b", batch_time=SAME_SECOND)
    assert rerun.sku_results.empty and rerun.write_statements == 0  # its digest is unchanged: not planned
    relabelled = sync(db, [("S2", B, "new label")], batch_key="media_20260301-1200b", batch_time=SAME_SECOND)
    assert relabelled.sku_results["status"].tolist() == ["ok"]  # planned (digest differs), and not stale


def test_sync_state_keeps_microseconds(db):
    early = datetime(2026, 3, 1, 12, 0, 0, 100, tzinfo=UTC)
    later = datetime(2026, 3, 1, 12, 0, 0, 200, tzinfo=UTC)
    sync(db, [("S1", A)], batch_key="media_x", batch_time=later)
    older = sync(db, [("S1", B)], batch_key="media_y", batch_time=early)  # greater key, older microsecond
    assert older.sku_results["status"].tolist() == ["stale"]
    with db.engine.connect() as conn:
        stored = conn.execute(sa.select(db.tables.sku_sync_state.c.last_batch_time)).scalar()
    assert stored == datetime(2026, 3, 1, 12, 0, 0, 200)


def test_quoted_stored_etag_is_the_same_etag(db):
    sync(db, [("S1", A, "x", 1, False, "image")])
    with db.engine.begin() as conn:
        conn.execute(sa.update(db.tables.gallery_meta).values(s3_etag='"1-' + A + '"'))
    # force: the SKU's digest is unchanged, a plain re-sync would leave it out of the plan
    again = sync(db, [("S1", A, "x", 1, False, "image")], batch_key="media_2", force=True)
    assert again.counts()["skipped_no_change"] == 1 and again.counts()["updated_value"] == 0


def test_multipart_etag_is_opaque(db):
    from nacento_pipeline.magento.gallery.sync import sync_gallery
    from nacento_pipeline_tests.helpers import FakeBatch, etag_frame, image_frame

    batch = FakeBatch(image_frame([("S1", A)]))
    sync_gallery(db, batch, etag_frame({A: "abc-3"}), mode="replace", batch_key="b1")
    same = sync_gallery(db, batch, etag_frame({A: "abc-3"}), mode="replace", batch_key="b1")
    other = sync_gallery(db, batch, etag_frame({A: "abc-4"}), mode="replace", batch_key="b2")
    assert same.write_statements == 0
    assert other.counts()["updated_value"] == 1 and gallery(db, "S1")[0][4] == "abc-4"


def test_resync_after_legacy_variants_and_dedup_writes_nothing(db):
    legacy_rows(db, "S1", ["a/b/a.jpg"])
    legacy_rows(db, "S2", ["a/b/c.jpg", C])
    rows = [
        ("S1", A, "old", 0, False, "image|thumbnail"),
        ("S2", C, "new", 3, True, "small_image"),
        ("S2", B),
    ]
    first = sync(db, rows)
    assert first.counts()["deduped"] == 1 and first.counts()["inserted"] == 1
    assert roles(db, "S1")["image"] == "a/b/a.jpg"  # the role names the gallery's own spelling
    assert roles(db, "S2")["small_image"] == C
    assert sync(db, rows).items.empty  # both SKUs left out of the plan: their digests are unchanged
    again = sync(db, rows, force=True)  # planned again, through the delta rules
    assert again.write_statements == 0, again.items[["sku", "value", "action"]]
    assert set(again.items["action"]) == {"skipped_no_change"} and again.delta.roles.empty


def _add_store(db, store_id=1):
    with db.engine.begin() as conn:
        exists = conn.execute(
            sa.select(db.tables.store.c.store_id).where(db.tables.store.c.store_id == store_id)
        )
        if exists.first() is None:
            conn.execute(
                db.tables.store.insert().values(store_id=store_id, code=f"s{store_id}", name="Store")
            )


def _store_rows(db, sku, store_id):
    t = db.tables
    q = (
        sa.select(t.media_gallery.c.value, t.media_gallery_value.c.label)
        .join(t.media_gallery_value, t.media_gallery_value.c.value_id == t.media_gallery.c.value_id)
        .join(t.product, t.product.c.entity_id == t.media_gallery_value.c.entity_id)
        .where(t.product.c.sku == sku, t.media_gallery_value.c.store_id == store_id)
        .order_by(t.media_gallery.c.value)
    )
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]


def test_purge_removes_every_store_row_and_the_link_of_that_product_only(db):
    _add_store(db)
    sync(db, [("S1", A, "one"), ("S1", B), ("S2", A, "two")])
    t = db.tables
    with db.engine.begin() as conn:  # store-1 labels for path A on both products (each has its own row)
        ids = dict(conn.execute(sa.select(t.product.c.sku, t.product.c.entity_id)).all())
        vid = dict(
            conn.execute(
                sa.select(t.value_to_entity.c.entity_id, t.media_gallery.c.value_id)
                .join(t.media_gallery, t.media_gallery.c.value_id == t.value_to_entity.c.value_id)
                .where(t.media_gallery.c.value == A)
            ).all()
        )
        conn.execute(
            t.media_gallery_value.insert(),
            [
                {
                    "value_id": vid[ids["S1"]],
                    "store_id": 1,
                    "entity_id": ids["S1"],
                    "label": "s1-store1",
                    "position": 0,
                    "disabled": 0,
                },
                {
                    "value_id": vid[ids["S2"]],
                    "store_id": 1,
                    "entity_id": ids["S2"],
                    "label": "s2-store1",
                    "position": 0,
                    "disabled": 0,
                },
            ],
        )
    result = sync(db, [("S1", B)], batch_key="media_2")
    assert result.counts()["purged"] == 1
    assert _values(db, "S1") == [B] and _store_rows(db, "S1", 1) == []
    assert gallery(db, "S2") == [(A, "two", 0, 0, "1-" + A)] and _store_rows(db, "S2", 1) == [
        (A, "s2-store1")
    ]
    assert count(db, t.media_gallery) == 2  # S1's own row for A deleted with it, as the admin does
    with db.engine.connect() as conn:
        links = conn.execute(
            sa.select(t.value_to_entity.c.entity_id).where(
                t.value_to_entity.c.value_id.in_(list(vid.values()))
            )
        ).all()
    assert [r[0] for r in links] == [ids["S2"]]


def test_failure_late_in_a_chunk_rolls_the_whole_sku_back(db, monkeypatch):
    sync(db, [("S2", A, "keep", 0, False, "image")])
    original = gallery_chunk_write._write_roles

    def failing(conn, db_, t, attrs, plan, link_of):
        original(conn, db_, t, attrs, plan, link_of)
        if (plan["sku"] == "S2").any():  # after gallery rows and roles were written in this transaction
            raise ValueError("Data too long for column 'value'")

    monkeypatch.setattr(gallery_chunk_write, "_write_roles", failing)
    result = sync(
        db, [("S1", B, "", 0, False, "image"), ("S2", C, "new", 0, False, "thumbnail")], batch_key="media_2"
    )
    status = result.sku_results.set_index("sku")["status"]
    assert (status["S1"], status["S2"]) == ("ok", "error")
    assert gallery(db, "S2") == [(A, "keep", 0, 0, "1-" + A)]  # nothing of the failed SKU stayed
    assert roles(db, "S2")["image"] == A and roles(db, "S2")["thumbnail"] == "no_selection"
    assert _values(db, "S1") == [B] and roles(db, "S1")["image"] == B
    assert count(db, db.tables.media_gallery) == 2  # C's media_gallery row rolled back too
    with db.engine.connect() as conn:
        state = dict(
            conn.execute(
                sa.select(db.tables.sku_sync_state.c.sku, db.tables.sku_sync_state.c.last_batch_key)
            ).all()
        )
    assert state == {"S1": "media_2", "S2": "media_1"}


@pytest.mark.parametrize("magento_url", ["mariadb"], indirect=True)
def test_statements_per_chunk_are_constant_from_1_to_500_skus(db):
    skus = [f"K{i:03d}" for i in range(500)]
    seed_demo_products(db.engine, skus, db.prefix)

    def run(members, key, label="l", position=1):
        from nacento_pipeline.magento.gallery.sync import sync_gallery
        from nacento_pipeline_tests.helpers import FakeBatch, etag_frame, image_frame

        rows = [
            (s, f"/k/{s}/{i}.jpg", label, position + i, False, "image" if i == 0 else "")
            for s in members
            for i in range(3)
        ]
        images = image_frame(rows)
        etags = etag_frame({v: "e" for v in images["value"]})
        return sync_gallery(
            db,
            FakeBatch(images),
            etags,
            mode="replace",
            chunk_size=500,
            batch_key=key,
            batch_time=datetime(2026, 3, 1, tzinfo=UTC),
        )

    db.attribute_ids()  # the one-time schema look-ups of a run are not per-chunk statements
    one = run(skus[:1], "b1")
    many = run(skus[1:], "b1")
    assert many.counts()["inserted"] == 3 * 499 and many.chunks == one.chunks == 1
    assert (many.statements, many.write_statements) == (one.statements, one.write_statements)
    # Updates of label/position: again the same count for 1 and 499 SKUs.
    one_upd = run(skus[:1], "b2", label="m", position=2)
    many_upd = run(skus[1:], "b2", label="m", position=2)
    assert many_upd.counts()["updated_meta"] == 3 * 499
    assert (many_upd.statements, many_upd.write_statements) == (one_upd.statements, one_upd.write_statements)
    # Unchanged re-sync: reads only.
    assert run(skus, "b2", label="m", position=2).write_statements == 0


def test_a_path_another_product_holds_in_legacy_spelling_gets_a_canonical_row_of_its_own(db):
    legacy_rows(db, "S2", ["a/b/a.jpg"])  # the path exists only in its no-slash spelling, on another product
    rows = [("S1", A, "", 0, False, "image")]
    first = sync(db, rows)
    assert first.counts()["inserted"] == 1 and count(db, db.tables.media_gallery) == 2  # never shared
    # one spelling per file: S2's legacy row is rewritten to the canonical value (magento.spellings)
    assert _values(db, "S1") == [A] and _values(db, "S2") == [A]
    assert roles(db, "S1")["image"] == A
    again = sync(db, rows)
    assert again.write_statements == 0 and again.delta.roles.empty
