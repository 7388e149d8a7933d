"""gallery_delta's plan stored as parts (resources.plan_store): a small handle to pickle, the chunks read back
one part at a time, and the write of the stored plan is the write of the plan. SQLite and MariaDB."""

from __future__ import annotations

import pickle

from nacento_pipeline.magento.gallery import plan as gallery_plan
from nacento_pipeline.magento.gallery.sync import plan_gallery, write_gallery
from nacento_pipeline.resources.plan_store import part_sink, planning_directory, store_plan
from nacento_pipeline.storage.plan_parts import StoredParts
from nacento_pipeline_tests.magento.gallery.test_plan_groups import (
    FRAMES,
    T1,
    A,
    B,
    C,
    D,
    E,
    _batch,
    _plan,
    _same_frame,
    _shop,
    etags_for,
)


def test_a_stored_plan_is_a_small_handle_and_writes_what_the_plan_writes(db, monkeypatch, tmp_path):
    _shop(db)
    plan = _plan(db, monkeypatch, 10_000, "replace")  # 5 chunks of 2 SKUs
    monkeypatch.setattr(gallery_plan, "PLAN_GROUP_SKUS", 4)  # parts of 2 chunks: 3 parts
    stored = pickle.loads(pickle.dumps(store_plan(plan, tmp_path / "run-1")))  # as the IO manager stores it
    assert isinstance(stored.stored, StoredParts)
    assert sorted(p.name for p in (tmp_path / "run-1").iterdir()) == [
        f"part-0000{n}.pickle" for n in range(3)
    ]
    # the handle holds none of the batch's rows: its request is the settings, the rows are in the parts
    assert stored.request.images.empty and stored.request.etags.empty and stored.request.payload_values.empty
    assert stored.request.batch_key == "media_2" and stored.mode == plan.mode
    assert len(pickle.dumps(stored)) < len(pickle.dumps(plan)) / 3
    assert stored.sku_count() == plan.sku_count() == 10
    assert [c.skus for c in stored.chunks] == [c.skus for c in plan.chunks]
    assert [c.fingerprint for c in stored.chunks] == [c.fingerprint for c in plan.chunks]
    for name in FRAMES:
        _same_frame(getattr(stored.delta, name), getattr(plan.delta, name))
    # each chunk's request, cut one part at a time, is the one the plan cuts from its whole request
    for (mine, _), (theirs, _) in zip(stored.parts(), plan.parts(), strict=True):
        assert mine.skus == theirs.skus and mine.invalid_skus == theirs.invalid_skus
        for name in ("images", "etags", "payload_values", "rejections", "store_values", "role_scope"):
            _same_frame(
                getattr(mine, name).reset_index(drop=True), getattr(theirs, name).reset_index(drop=True)
            )
    result = write_gallery(db, stored, run_id="run-2")
    assert result.errors == [] and result.replanned_chunks == 1  # as the plan in memory (test_plan_groups)
    assert result.totals() == plan.totals()


def test_a_stored_plan_whose_parts_are_gone_says_so(db, monkeypatch, tmp_path):
    _shop(db)
    stored = store_plan(_plan(db, monkeypatch, 10_000, "replace"), tmp_path / "run-1")
    for part in (tmp_path / "run-1").iterdir():
        part.unlink()
    try:
        list(stored.chunks)
    except FileNotFoundError as exc:
        assert "part-00000.pickle" in str(exc) and "plan the batch again" in str(exc)
    else:
        raise AssertionError("reading a deleted part must fail")


def test_a_plan_planned_into_parts_is_the_plan_and_each_group_is_on_disk_once_planned(
    db, monkeypatch, tmp_path
):
    _shop(db)
    plan = _plan(db, monkeypatch, 4, "replace")  # in memory: 5 chunks of 2 SKUs, groups of 2 chunks
    seen: list[list[str]] = []

    def sink(pairs):
        def watched():
            for pair in pairs:
                seen.append(sorted(p.name for p in (tmp_path / "planning").glob("*.pickle")))
                yield pair

        return part_sink(tmp_path / "planning", chunk_size=2)(watched())

    monkeypatch.setattr(gallery_plan, "PLAN_GROUP_SKUS", 4)
    planned = plan_gallery(
        db,
        _batch(),
        etags_for([A, B, C, D, E], missing=["/m/i/missing.jpg"]),
        mode="replace",
        chunk_size=2,
        batch_key="media_2",
        batch_time=T1,
        sink=sink,
    )
    # the 5th chunk is planned once the first two groups' parts are written: nothing waits for the end
    assert seen[4] == ["part-00000.pickle", "part-00001.pickle"]
    assert planned.request.images.empty and planned.sku_count() == plan.sku_count() == 10
    assert [c.fingerprint for c in planned.chunks] == [c.fingerprint for c in plan.chunks]
    for name in FRAMES:
        _same_frame(getattr(planned.delta, name), getattr(plan.delta, name))
    assert planned.counts() == plan.counts() and planned.digests.equals(plan.digests)
    for (mine, _), (theirs, _) in zip(planned.parts(), plan.parts(), strict=True):
        for name in ("images", "etags", "payload_values", "rejections", "store_values", "role_scope"):
            _same_frame(
                getattr(mine, name).reset_index(drop=True), getattr(theirs, name).reset_index(drop=True)
            )
    # the IO manager's store moves the directory into place: the handle reads the same chunks from there
    stored = pickle.loads(pickle.dumps(store_plan(planned, tmp_path / "run-1")))
    assert not (tmp_path / "planning").exists() and len(list((tmp_path / "run-1").iterdir())) == 3
    assert [c.skus for c in stored.chunks] == [c.skus for c in plan.chunks]
    result = write_gallery(db, stored, run_id="run-2")
    assert result.errors == [] and result.totals() == plan.totals()


def test_a_failed_planning_leaves_no_parts(tmp_path):
    try:
        with planning_directory(tmp_path, "run-1") as parts:
            parts.mkdir(parents=True)
            (parts / "part-00000.pickle").write_bytes(b"a group planned")
            raise RuntimeError("the plan failed")
    except RuntimeError:
        pass
    assert not (tmp_path / "gallery_delta" / ".planning" / "run-1").exists()
