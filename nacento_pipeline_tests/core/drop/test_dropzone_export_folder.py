"""core.drop.dropzone: an export folder `import-<key>/` (Akeneo) completed by its OK file is one batch."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from nacento_pipeline.core.drop.dropzone import (
    BatchDrop,
    InvalidDrop,
    apply_ok_listing,
    content_fingerprint,
    scan_drop,
)
from nacento_pipeline.storage.adapters.base import ObjectInfo

PREFIX = "pim-drop/"
WHEN = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FOLDER = "import-akeneo_20261203/"


def obj(name: str, size: int = 10, etag: str | None = None) -> ObjectInfo:
    return ObjectInfo(PREFIX + name, etag or f"etag-{name}", size, WHEN)


def _export(*extra: ObjectInfo, ok: bool = True) -> list[ObjectInfo]:
    objects = [
        obj(FOLDER + "export_10.xlsx"),
        obj(FOLDER + "export_2.xlsx"),
        obj(FOLDER + "files/A/picture/a.jpg"),
        obj(FOLDER + "files/B/image/en_US/ecommerce/b.jpg"),
        *extra,
    ]
    return objects + ([obj("import-akeneo_20261203.ok", size=0)] if ok else [])


def test_an_export_folder_with_its_ok_file_is_a_batch_of_export_files_and_media():
    scan = scan_drop(_export(), PREFIX)
    [drop] = scan.complete
    assert drop.batch_key == "akeneo_20261203" and drop.is_export_folder
    assert [k.rsplit("/", 1)[-1] for k in drop.bunch_keys] == [
        "export_2.xlsx",
        "export_10.xlsx",
    ]  # natural order
    assert [drop.relative(m.key) for m in drop.media] == [
        "files/A/picture/a.jpg",
        "files/B/image/en_US/ecommerce/b.jpg",
    ]
    assert drop.export_folder == PREFIX + FOLDER
    assert set(drop.keys) == {o.key for o in _export()}  # cleaning up removes the whole folder


def test_without_its_ok_file_the_folder_waits_and_bad_folders_are_refused_with_the_reason():
    scan = scan_drop(_export(ok=False), PREFIX)
    assert not scan.complete and len(scan.pending) == 4
    reasons = {
        "stray": scan_drop(_export(obj(FOLDER + "notes.txt")), PREFIX).invalid[0].reason,
        "empty": scan_drop([obj(FOLDER + "export.csv", size=0), obj("import-akeneo_20261203.ok", 0)], PREFIX)
        .invalid[0]
        .reason,
        "no data": scan_drop(
            [obj(FOLDER + "files/A/picture/a.jpg"), obj("import-akeneo_20261203.ok", 0)], PREFIX
        )
        .invalid[0]
        .reason,
        "mixed": scan_drop(_export(obj("import-akeneo_20261203_01.csv")), PREFIX).invalid[0].reason,
    }
    assert "notes.txt" in reasons["stray"]
    assert "empty export file" in reasons["empty"]
    assert "without a .csv or .xlsx" in reasons["no data"]
    assert "beside an export folder" in reasons["mixed"]


def test_the_ok_file_may_list_the_export_files_and_its_media():
    [drop] = scan_drop(_export(), PREFIX).complete
    listed = apply_ok_listing(drop, "export_2.xlsx\nexport_10.xlsx\nfiles/A/picture/a.jpg\n")
    assert isinstance(listed, BatchDrop) and len(listed.bunch_keys) == 2 and len(listed.media) == 2
    missing = apply_ok_listing(drop, "export_2.xlsx\nfiles/C/picture/c.jpg\n")
    assert isinstance(missing, InvalidDrop) and "files/C/picture/c.jpg" in missing.reason


def test_a_changed_image_is_a_new_version_of_the_batch():
    [drop] = scan_drop(_export(), PREFIX).complete
    changed = replace(drop, media=(replace(drop.media[0], etag="new"), drop.media[1]))
    assert content_fingerprint(changed) != content_fingerprint(drop)
    plain = replace(drop, export_folder="", media=())
    assert content_fingerprint(plain) != content_fingerprint(drop)
