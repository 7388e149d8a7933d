"""Planning chunks together (one state read and one delta per group of chunks, cut per chunk) plans exactly
what planning each chunk alone plans: the same chunks, deltas, fingerprints and joined delta. SQLite and
MariaDB."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.frames import ROLE_SCOPE_COLUMNS
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import seed_demo_products
from nacento_pipeline.magento.gallery import plan as gallery_plan
from nacento_pipeline.magento.gallery.sync import GalleryPlan, plan_gallery, write_gallery
from nacento_pipeline_tests.helpers import FakeBatch, image_frame, rejection_frame, store_value_frame
from nacento_pipeline_tests.magento.gallery_helpers import T1, A, B, C, etags_for, legacy_rows, sync
from nacento_pipeline_tests.magento.magento_admin import (
    admin_add_image,
    admin_set_role,
    admin_set_store_value,
    connector_shared_row,
)

D, E = "/d/d/dd.jpg", "/e/e/ee.jpg"
DE = 2  # the demo schema's store view "de"
FRAMES = ("items", "roles", "sku_results", "warnings", "store_values")


def _shop(db) -> None:
    """Products in every situation a delta distinguishes: galleries with roles, store-level rows and roles, a
    legacy path variant, an image added by hand, a row shared by the PHP connector, a near-miss SKU."""
    seed_demo_products(db.engine, ["S4", "S5", "S6", "S7", "Case-Sku"], db.prefix)
    sync(
        db,
        [
            ("S1", A, "front", 1, False, "image|small_image"),
            ("S1", B, "back", 2, False, "thumbnail"),
            ("S2", C, "side", 1, False, "image"),
            ("S3", A, "", 1),
            ("S4", D, "d", 3, True, "swatch_image"),
        ],
    )
    admin_set_store_value(db, "S1", A, DE, label="Vorne", position=4)
    admin_set_role(db, "S1", "image", B, DE)
    admin_add_image(db, "S2", E, label="by hand")
    legacy_rows(db, "S3", ["a/b/c.jpg", "a/b/a.jpg"])  # a variant of C, a variant of S3's A
    connector_shared_row(db, ["S5", "S6"], D, "1-" + D)


def _batch() -> FakeBatch:
    images = image_frame(
        [
            ("S1", A, "front 2", 1, False, "image"),
            ("S1", C, "new", None, False, "thumbnail"),
            ("S2", C, "side", 1, False, "image"),
            ("S2", C, "side again", 1, False, "image"),  # twice: last wins
            ("S3", A, "", -3),
            ("S3", C, "", -1),  # negative positions: shifted
            ("S4", "/m/i/missing.jpg", "", 1, False, "image"),
            ("S4", D, "d", 3, True, "swatch_image"),
            ("S5", D, "shared", 1, False, "image"),
            ("S6", E, "", 1),
            ("NOPE", A),
            ("case-sku", B),
            ("S7", A, "", 1, False, "small_image"),
        ]
    )
    stores = store_value_frame(
        [("S1", A, "de", "Vorne 2", 3, None, "small_image"), ("S2", C, "xx", "?"), ("S5", D, "de", None, 7)]
    )
    scope = pd.DataFrame([("S7", "small_image")], columns=list(ROLE_SCOPE_COLUMNS))
    return FakeBatch(
        images,
        rejections=rejection_frame([("S8", "file_path", "bad path")]),
        invalid_skus={"S6"},
        extra_payload=(("S2", E),),
        store_values=stores,
        role_scope=scope,
    )


def _plan(db, monkeypatch, group_skus: int, mode: str) -> GalleryPlan:
    monkeypatch.setattr(gallery_plan, "PLAN_GROUP_SKUS", group_skus)
    return plan_gallery(
        db,
        _batch(),
        etags_for([A, B, C, D, E], missing=["/m/i/missing.jpg"]),
        mode=mode,
        chunk_size=2,
        batch_key="media_2",
        batch_time=T1,
    )


def _same_frame(left: pd.DataFrame, right: pd.DataFrame, dtypes: bool = True) -> None:
    if len(left) or len(right):
        pd.testing.assert_frame_equal(
            left.reset_index(drop=True), right.reset_index(drop=True), check_dtype=dtypes
        )
    else:
        assert list(left.columns) == list(right.columns)


def test_chunks_planned_together_are_the_chunks_planned_alone(db, monkeypatch):
    _shop(db)
    totals = {}
    for mode in ("replace", "replace_owned", "upsert"):
        alone = _plan(db, monkeypatch, 1, mode)  # a group of one chunk: each chunk read and computed alone
        together = _plan(db, monkeypatch, 10_000, mode)
        assert [c.skus for c in together.chunks] == [c.skus for c in alone.chunks] and len(alone.chunks) == 5
        for mine, theirs in zip(together.chunks, alone.chunks, strict=True):
            assert mine.fingerprint == theirs.fingerprint
            assert mine.delta.unknown_skus == theirs.delta.unknown_skus
            for name in FRAMES:
                _same_frame(getattr(mine.delta, name), getattr(theirs.delta, name), dtypes=False)
            assert sorted(mine.products["sku"]) == sorted(theirs.products["sku"])
            assert sorted(mine.sync_state["sku"]) == sorted(theirs.sync_state["sku"])
        for name in FRAMES:
            _same_frame(getattr(together.delta, name), getattr(alone.delta, name), dtypes=False)
        assert together.totals() == alone.totals() and together.unknown_skus == alone.unknown_skus
        totals[mode] = together.totals()
    # every rule at work; S1's B, the base image of store view "de", is kept as Magento's DeleteValidator
    # keeps it
    assert totals["replace"]["purged"] == 0 and totals["upsert"]["purged"] == 0
    assert {
        k: totals["replace"][k]
        for k in (
            "skus_seen",
            "error",
            "inserted",
            "updated_value",
            "updated_meta",
            "skipped_no_change",
            "invalid",
            "rejected",
            "deduped_path_variants",
            "split_shared_rows",
            "store_values",
        )
    } == {
        "skus_seen": 10,
        "error": 3,
        "inserted": 3,
        "updated_value": 1,
        "updated_meta": 4,
        "skipped_no_change": 1,
        "invalid": 1,
        "rejected": 1,
        "deduped_path_variants": 1,
        "split_shared_rows": 1,
        "store_values": 2,
    }
    assert len(together.delta.warnings) == 4 and len(together.roles) > 10
    result = write_gallery(db, together, run_id="run-2")
    # one chunk planned again: S1's new C gave the file one spelling, so S3's legacy a/b/c.jpg (a later chunk)
    # was rewritten to /a/b/c.jpg under the lock (magento.spellings)
    assert result.replanned_chunks == 1 and result.errors == []


def test_groups_cut_on_chunk_boundaries(db, monkeypatch):
    _shop(db)
    alone = _plan(db, monkeypatch, 1, "replace")
    cut = _plan(db, monkeypatch, 5, "replace")  # groups of 4 SKUs (2 chunks), the last one smaller
    assert [c.skus for c in cut.chunks] == [c.skus for c in alone.chunks]
    assert [c.fingerprint for c in cut.chunks] == [c.fingerprint for c in alone.chunks]
    for name in FRAMES:
        _same_frame(getattr(cut.delta, name), getattr(alone.delta, name))


def test_a_group_whose_delta_cannot_be_cut_is_planned_chunk_by_chunk(db, monkeypatch):
    _shop(db)
    alone = _plan(db, monkeypatch, 1, "replace")
    monkeypatch.setattr(gallery_plan, "split_delta", lambda *args: None)  # a row no chunk of the group holds
    fallback = _plan(db, monkeypatch, 10_000, "replace")
    assert [c.skus for c in fallback.chunks] == [c.skus for c in alone.chunks]
    assert [c.fingerprint for c in fallback.chunks] == [c.fingerprint for c in alone.chunks]
    for name in FRAMES:
        _same_frame(getattr(fallback.delta, name), getattr(alone.delta, name), dtypes=False)


def test_the_plan_reads_in_one_snapshot_whatever_the_servers_default_isolation(db, monkeypatch):
    """A DBA's READ COMMITTED default would let a fingerprint taken after a concurrent commit vouch for state
    the group's delta never saw: the plan's connection runs REPEATABLE READ (one snapshot for the whole plan).
    """
    if not db.is_mysql:
        return  # SQLite: one writer, the demo and tests only
    _shop(db)
    read_committed = MagentoDatabase(db.engine.execution_options(isolation_level="READ COMMITTED"))
    with read_committed.engine.connect() as conn:  # the engine's own default here
        assert conn.exec_driver_sql("SELECT @@tx_isolation").scalar() == "READ-COMMITTED"
    seen: list[str] = []
    read_stores = gallery_plan.read_stores

    def spying(conn, tables):
        seen.append(conn.exec_driver_sql("SELECT @@tx_isolation").scalar())
        return read_stores(conn, tables)

    monkeypatch.setattr(gallery_plan, "read_stores", spying)
    plan = _plan(read_committed, monkeypatch, 10_000, "replace")
    assert seen == ["REPEATABLE-READ"] and plan.chunks
