"""core.drop.dropzone: drop names, grouping into batches, the OK-file forms, archive version and run key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from nacento_pipeline.core.drop.dropzone import (
    BatchDrop,
    DropName,
    InvalidDrop,
    InvalidName,
    apply_ok_listing,
    archive_version,
    content_fingerprint,
    parse_drop_name,
    run_key,
    scan_drop,
)
from nacento_pipeline.storage.adapters.base import ObjectInfo

PREFIX = "pim-drop/"
WHEN = datetime(2026, 11, 22, 15, 30, 5, tzinfo=UTC)


def obj(name: str, size: int = 10, etag: str | None = None) -> ObjectInfo:
    return ObjectInfo(PREFIX + name, etag or f"etag-{name}", size, WHEN)


def test_bunch_name_with_underscores_and_dashes_in_identifier() -> None:
    parsed = parse_drop_name("pim-drop/import-media_2026_11-22_1530_01.csv", PREFIX)
    assert parsed == DropName(
        "pim-drop/import-media_2026_11-22_1530_01.csv", "bunch", "media", "2026_11-22_1530", 1, "csv"
    )
    assert parsed.batch_key == "media_2026_11-22_1530"


def test_ok_name() -> None:
    parsed = parse_drop_name("pim-drop/import-media_20261122-1530.ok", PREFIX)
    assert isinstance(parsed, DropName)
    assert (parsed.kind, parsed.type, parsed.identifier, parsed.counter, parsed.batch_key) == (
        "ok",
        "media",
        "20261122-1530",
        None,
        "media_20261122-1530",
    )


@pytest.mark.parametrize(
    "key",
    ["other/import-media_x_01.csv", "pim-drop/", "pim-drop/archive/import-media_x_01.csv", "pim-drop/.keep"],
)
def test_keys_that_are_not_ours(key: str) -> None:
    assert parse_drop_name(key, PREFIX) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("readme.txt", "import-"),
        ("import-media_x_01.xml", "extension"),
        ("import-media_x_ab.csv", "counter"),
        ("import-media_01.csv", "<identifier>"),
        ("import-media.ok", "<identifier>"),
        ("import-media_x y_01.csv", "must match"),
        ("import-media_" + "x" * 130 + "_01.csv", "must match"),
    ],
)
def test_invalid_names_carry_a_reason(name: str, reason: str) -> None:
    parsed = parse_drop_name(PREFIX + name, PREFIX)
    assert isinstance(parsed, InvalidName)
    assert reason in parsed.reason


def test_scan_sorts_complete_pending_invalid() -> None:
    objects = [
        obj("import-media_a_10.csv", 5),
        obj("import-media_a_2.json", 7),
        obj("import-media_a.ok", 0, "ok-a"),
        obj("import-media_b_01.csv"),  # no OK yet
        obj("import-media_c.ok"),  # OK without bunches
        obj("import-media_d_01.csv", 0),
        obj("import-media_d.ok"),  # empty bunch
        obj("notes.txt"),  # bad name
        obj("import-media_e f_01.csv"),
        obj("import-media_e f.ok"),  # bad batch key
        ObjectInfo("pim-drop/archive/x.csv", "e", 1, WHEN),  # not ours
    ]
    scan = scan_drop(objects, PREFIX)
    assert scan.complete == [
        BatchDrop(
            batch_key="media_a",
            type="media",
            identifier="a",
            ok_key=PREFIX + "import-media_a.ok",
            ok_etag="ok-a",
            ok_last_modified=WHEN,
            bunch_keys=(PREFIX + "import-media_a_2.json", PREFIX + "import-media_a_10.csv"),
            bunch_etags=("etag-import-media_a_2.json", "etag-import-media_a_10.csv"),
            total_size=12,
            bunch_sizes=(7, 5),
        )
    ]
    assert scan.pending == [PREFIX + "import-media_b_01.csv"]
    by_reason = {drop.reason: drop for drop in scan.invalid}
    assert sorted((d.batch_key, len(d.keys)) for d in scan.invalid) == [
        ("", 1),
        ("", 2),
        ("media_c", 1),
        ("media_d", 2),
    ]
    assert any("OK file without any bunch" in r for r in by_reason)
    assert any("empty bunch file(s): import-media_d_01.csv" in r for r in by_reason)
    bad_key = next(d for d in scan.invalid if len(d.keys) == 2 and d.batch_key == "")
    assert set(bad_key.keys) == {PREFIX + "import-media_e f_01.csv", PREFIX + "import-media_e f.ok"}


def complete_drop() -> BatchDrop:
    scan = scan_drop(
        [
            obj("import-media_a_01.csv", 3),
            obj("import-media_a_02.csv", 4),
            obj("import-media_a_03.csv", 5),
            obj("import-media_a.ok", 0, "0123456789abcdef"),
        ],
        PREFIX,
    )
    return scan.complete[0]


def test_empty_ok_file_means_all_bunches() -> None:
    drop = complete_drop()
    assert apply_ok_listing(drop, "") == drop
    assert apply_ok_listing(drop, "\n  \n") == drop


def test_ok_listing_restricts_and_reports_unlisted() -> None:
    drop = complete_drop()
    listed = apply_ok_listing(drop, "import-media_a_03.csv\r\n\nimport-media_a_01.csv\n")
    assert isinstance(listed, BatchDrop)
    assert listed.bunch_keys == (PREFIX + "import-media_a_01.csv", PREFIX + "import-media_a_03.csv")
    assert listed.bunch_etags == ("etag-import-media_a_01.csv", "etag-import-media_a_03.csv")
    assert listed.total_size == 8
    assert listed.unlisted_keys == (PREFIX + "import-media_a_02.csv",)


def test_ok_listing_naming_a_missing_file_is_invalid() -> None:
    result = apply_ok_listing(complete_drop(), "import-media_a_01.csv\nimport-media_a_09.csv\n")
    assert isinstance(result, InvalidDrop)
    assert result.batch_key == "media_a"
    assert "import-media_a_09.csv" in result.reason
    assert PREFIX + "import-media_a.ok" in result.keys


def test_archive_version_and_run_key() -> None:
    drop = complete_drop()
    fingerprint = content_fingerprint(drop)
    assert len(fingerprint) == 12
    assert archive_version(drop) == f"20261122T153005Z-{fingerprint}"
    assert run_key(drop) == f"media_a:0123456789abcdef:{fingerprint}"
    # same (empty) OK file, a bunch with new content: a new version and a new run
    changed = BatchDrop(**{**drop.__dict__, "bunch_etags": ("other",) + drop.bunch_etags[1:]})
    assert run_key(changed) != run_key(drop)
    assert archive_version(changed) != archive_version(drop)
    later = BatchDrop(**{**drop.__dict__, "ok_last_modified": WHEN + timedelta(hours=1)})
    assert archive_version(later) > archive_version(drop)
    local = BatchDrop(
        **{
            **drop.__dict__,
            "ok_last_modified": datetime(2026, 11, 22, 17, 30, 5, tzinfo=timezone(timedelta(hours=2))),
        }
    )
    assert archive_version(local) == archive_version(drop)
