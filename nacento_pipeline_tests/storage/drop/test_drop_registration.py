"""Registration of drops: an OK file listing only some bunch files, and bunch files the sniff refuses."""

from __future__ import annotations

import json

from nacento_pipeline.core.batch.parse import parse_batch
from nacento_pipeline.storage.adapters.local import LocalFolderStore
from nacento_pipeline.storage.drop.archive import bunch_sources
from nacento_pipeline.storage.drop.registration import register_drops
from nacento_pipeline_tests.core.toy_format import TOY_SHAPE, toy_format_registered

DROP, ARCHIVE, REJECTED = "pim-drop/", "pim-archive/", "pim-rejected/"
GOOD_CSV = b"sku,file_path\nA,/a/b/a.jpg\n"


def _pass(store: LocalFolderStore, registered: set[str]):
    return register_drops(
        store,
        drop_prefix=DROP,
        archive_prefix=ARCHIVE,
        rejected_prefix=REJECTED,
        is_registered=lambda key: key in registered,
    )


def _keys(store: LocalFolderStore, prefix: str) -> list[str]:
    return sorted(info.key for info in store.list(prefix))


def test_partial_ok_listing_is_archived_once_and_unlisted_files_are_reported_and_leave(tmp_path):
    store = LocalFolderStore(tmp_path)
    store.put(DROP + "import-media_p_01.csv", GOOD_CSV)
    store.put(DROP + "import-media_p_02.csv", b"sku,file_path\nB,/a/b/b.jpg\n")
    store.put(DROP + "import-media_p_03.csv", b"sku,file_path\nC,/a/b/c.jpg\n")
    store.put(DROP + "import-media_p.ok", b"import-media_p_01.csv\nimport-media_p_03.csv\n")
    registered: set[str] = set()

    first = _pass(store, registered)
    assert [r.drop.batch_key for r in first.registered] == ["media_p"]
    assert [k.rsplit("/", 1)[-1] for k in first.registered[0].drop.bunch_keys] == [
        "import-media_p_01.csv",
        "import-media_p_03.csv",
    ]
    unlisted = [r for r in first.rejected if "not listed" in r.reason]
    assert len(unlisted) == 1 and unlisted[0].keys == (DROP + "import-media_p_02.csv",)
    report = store.get(unlisted[0].moved_to + "REPORT.md").decode()
    assert "import-media_p_02.csv" in report and "import-media_p.ok" in report
    assert DROP + "import-media_p_02.csv" not in _keys(store, DROP)

    # Once its partition is registered, the next pass finds the archived (filtered) version and cleans up.
    registered.add("media_p")
    last = _pass(store, registered)
    assert last.cleaned == [DROP + "import-media_p.ok"] and last.registered == []
    assert _keys(store, DROP) == []
    versions = {k.split("/")[2] for k in _keys(store, ARCHIVE + "media_p/")}
    assert len(versions) == 1


def test_unreadable_header_is_rejected_before_registration_with_the_parsers_reason(tmp_path):
    store = LocalFolderStore(tmp_path)
    store.put(DROP + "import-media_h_01.csv", b"sku;file_path\nA;/a/b/a.jpg\n")  # wrong separator
    store.put(DROP + "import-media_h.ok", b"")
    store.put(DROP + "import-media_q_01.csv", b'sku,file_path,label\nA,/a/b/a.jpg,"open\n')
    store.put(DROP + "import-media_q.ok", b"")
    store.put(
        DROP + "import-media_j_01.json",
        b"\xef\xbb\xbf"
        + json.dumps(
            {"request": {"request_id": "r", "items": [{"sku": "A", "images": [{"file_path": "/a/b/a.jpg"}]}]}}
        ).encode(),
    )
    store.put(DROP + "import-media_j.ok", b"")
    outcome = _pass(store, set())
    assert [r.drop.batch_key for r in outcome.registered] == ["media_j"]  # a BOM before JSON is fine
    reasons = {r.label: r.reason for r in outcome.rejected}
    assert reasons["media_h"].startswith("import-media_h_01.csv:1: CSV header has neither")
    assert reasons["media_q"].startswith("import-media_q_01.csv:2: CSV cannot be parsed")
    report = json.loads(
        store.get(next(r.moved_to for r in outcome.rejected if r.label == "media_h") + "report.json")
    )
    assert report["files"] == [DROP + "import-media_h_01.csv", DROP + "import-media_h.ok"]
    assert _keys(store, ARCHIVE + "media_h/") == []


def test_large_file_is_sniffed_from_its_start(tmp_path):
    store = LocalFolderStore(tmp_path)
    rows = b"".join(b"SKU%d,/a/b/%d.jpg\n" % (i, i) for i in range(8000))
    store.put(DROP + "import-media_big_01.csv", b"sku,file_path\n" + rows)
    store.put(DROP + "import-media_big.ok", b"")
    store.put(DROP + "import-media_bad_01.jsonl", b'{"sku": "A", "images": []}\n{"sku": \n' + rows)
    store.put(DROP + "import-media_bad.ok", b"")
    outcome = _pass(store, set())
    assert [r.drop.batch_key for r in outcome.registered] == ["media_big"]
    assert [r.reason for r in outcome.rejected][0].startswith("import-media_bad_01.jsonl:2: malformed JSON")


def test_a_registered_toy_format_is_accepted_sniffed_registered_and_parsed(tmp_path):
    store = LocalFolderStore(tmp_path)
    store.put(DROP + "import-media_t_01.toy", b"A\t/a/b/a.jpg\tfront\nB\t/a/b/b.jpg\n")
    store.put(DROP + "import-media_t_02.csv", b"sku,file_path\nC,/a/b/c.jpg\n")
    store.put(DROP + "import-media_t.ok", b"")
    store.put(DROP + "import-media_u_01.toy", b"A\t/a/b/a.jpg\nno tab\n")
    store.put(DROP + "import-media_u.ok", b"")
    with toy_format_registered():  # the registry plus the toy reader: nothing else knows the format
        outcome = _pass(store, set())
        parsed = parse_batch(bunch_sources(store, outcome.registered[0].manifest))
    assert [r.drop.batch_key for r in outcome.registered] == ["media_t"]
    assert [(r.label, r.reason) for r in outcome.rejected] == [
        ("media_u", f"import-media_u_01.toy:2: {TOY_SHAPE}")
    ]
    assert parsed.images[["sku", "value", "label", "file"]].values.tolist() == [
        ["A", "/a/b/a.jpg", "front", "import-media_t_01.toy"],
        ["B", "/a/b/b.jpg", "", "import-media_t_01.toy"],
        ["C", "/a/b/c.jpg", "", "import-media_t_02.csv"],
    ]
    assert parsed.rejections.empty


def test_a_drop_of_an_unregistered_format_is_moved_aside_naming_the_registered_formats(tmp_path):
    store = LocalFolderStore(tmp_path)
    store.put(DROP + "import-media_t_01.toy", b"A\t/a/b/a.jpg\n")
    store.put(DROP + "import-media_t.ok", b"")
    outcome = _pass(store, set())
    assert outcome.registered == []
    moved = [r for r in outcome.rejected if r.keys == (DROP + "import-media_t_01.toy",)]
    assert len(moved) == 1 and "registered bunch formats (.csv (" in moved[0].reason
    assert DROP + "import-media_t_01.toy" not in _keys(store, DROP)


class _ReadsRecorded(LocalFolderStore):
    """The local store, recording every key whose content is read."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self.read: list[str] = []

    def get(self, key: str) -> bytes:
        self.read.append(key)
        return super().get(key)

    def open(self, key: str):
        self.read.append(key)
        return super().open(key)


def test_drops_over_the_input_caps_are_refused_before_anything_is_read(tmp_path):
    from nacento_pipeline.core.batch.input_limits import InputLimits

    store = _ReadsRecorded(tmp_path)
    store.put(DROP + "import-media_fine_01.csv", GOOD_CSV)
    store.put(DROP + "import-media_fine.ok", b"")
    store.put(DROP + "import-media_big_01.csv", GOOD_CSV)
    store.put(DROP + "import-media_big_02.csv", GOOD_CSV + b"B,/a/b/" + b"x" * 200 + b".jpg\n")
    store.put(DROP + "import-media_big.ok", b"")
    store.put(DROP + "import-media_okbig_01.csv", GOOD_CSV)
    store.put(DROP + "import-media_okbig.ok", b"import-media_okbig_01.csv\n" * 10)
    limits = InputLimits(bunch_file_bytes=100, ok_file_bytes=100, invalid_names_per_pass=1000)
    outcome = register_drops(
        store, drop_prefix=DROP, archive_prefix=ARCHIVE, rejected_prefix=REJECTED, limits=limits
    )
    assert [r.drop.batch_key for r in outcome.registered] == ["media_fine"]
    reasons = {r.label: r.reason for r in outcome.rejected}
    assert (
        "bunch file size limit" in reasons["media_big"]
        and "NACENTO_MAX_BUNCH_FILE_MB" in reasons["media_big"]
    )
    assert (
        "import-media_big_02.csv (" in reasons["media_big"]
        and "import-media_big_01.csv" not in reasons["media_big"]
    )
    assert (
        "OK file size limit" in reasons["media_okbig"] and "NACENTO_MAX_OK_FILE_KB" in reasons["media_okbig"]
    )
    assert not [k for k in store.read if "media_big" in k or "media_okbig" in k]  # refused from the listing
    moved = _keys(store, REJECTED)
    assert any(k.endswith("import-media_big_02.csv") for k in moved)
    assert any(k.endswith("import-media_okbig.ok") for k in moved)
    assert (
        "NACENTO_MAX_BUNCH_FILE_MB"
        in store.get(
            next(r.moved_to for r in outcome.rejected if r.label == "media_big") + "REPORT.md"
        ).decode()
    )
    assert _keys(store, DROP) == []


def test_invalid_names_are_moved_aside_a_bounded_number_per_pass(tmp_path):
    from nacento_pipeline.core.batch.input_limits import InputLimits

    store = LocalFolderStore(tmp_path)
    for i in range(7):
        store.put(DROP + f"not-a-drop-{i}.txt", b"x")
    limits = InputLimits(invalid_names_per_pass=3)
    passes = []
    while _keys(store, DROP) and len(passes) < 5:
        outcome = register_drops(
            store, drop_prefix=DROP, archive_prefix=ARCHIVE, rejected_prefix=REJECTED, limits=limits
        )
        passes.append((sum(len(r.keys) for r in outcome.rejected), outcome.invalid_left))
    assert passes == [(3, 4), (3, 1), (1, 0)]
