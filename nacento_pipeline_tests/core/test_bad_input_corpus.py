"""The bad-input corpus (bad_input/manifest.json): every file, OK file and drop name is refused exactly as
the manifest says (file, line, field, reason), never with an exception; the sensor's sniff agrees with the
parser on every bunch file (refuses the whole-file refusals with the same message, passes the others)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nacento_pipeline.core.batch.parse import BunchSource, parse_batch
from nacento_pipeline.core.batch.sniffing import SNIFF_BYTES, sniff_bunch
from nacento_pipeline.core.drop.dropzone import (
    BatchDrop,
    InvalidDrop,
    InvalidName,
    apply_ok_listing,
    parse_drop_name,
    scan_drop,
)
from nacento_pipeline.core.objects import ObjectInfo

CORPUS = Path(__file__).parent / "bad_input"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
DROP = "pim-drop/"


def test_corpus_is_large_enough_and_complete():
    bunch = MANIFEST["bunch_files"]
    kinds = {entry["file"].rsplit("_", 2)[1][0] for entry in bunch}
    assert kinds == {"g", "n", "j", "l"}  # gallery CSV, native CSV, JSON, JSON Lines
    assert len(bunch) + len(MANIFEST["ok_files"]) >= 40
    listed = {e["file"] for e in bunch} | {e["file"] for e in MANIFEST["ok_files"]} | {"manifest.json"}
    assert {p.name for p in CORPUS.iterdir()} == listed


@pytest.mark.parametrize("entry", MANIFEST["bunch_files"], ids=lambda e: e["file"])
def test_bunch_file_is_refused_as_the_manifest_says(entry):
    name = entry["file"]
    data = (CORPUS / name).read_bytes()
    parsed = parse_batch([BunchSource.from_bytes(name, data)])
    errors = parsed.rejections.loc[parsed.rejections["severity"] == "error"]
    got = sorted(zip(errors["file"], errors["line"], errors["field"], errors["reason"], strict=True))
    expected = entry["refusals"]
    assert [(f, line, field) for f, line, field, _ in got] == sorted(
        (name, e["line"], e["field"]) for e in expected
    ), got
    for (_, _, _, reason), want in zip(
        got, sorted(expected, key=lambda e: (e["line"], e["field"])), strict=True
    ):
        assert want["reason"] in reason
    if not expected:
        assert len(parsed.images) >= 1
    whole_file = [e for e in expected if e["field"] == "file"]
    sniffed = sniff_bunch(name, data[:SNIFF_BYTES], len(data))
    if whole_file and (
        len(data) <= SNIFF_BYTES or sniffed is not None
    ):  # a large file: only its start is seen
        assert sniffed is not None and whole_file[0]["reason"] in sniffed
        assert sniffed.startswith(
            f"{name}:{whole_file[0]['line']}: " if whole_file[0]["line"] else f"{name}: "
        )
    elif not whole_file:
        assert sniffed is None


def _drop(entry) -> BatchDrop | InvalidDrop:
    when = datetime(2026, 11, 22, tzinfo=UTC)
    objects = [ObjectInfo(DROP + entry["file"], "ok-etag", (CORPUS / entry["file"]).stat().st_size, when)]
    for spec in entry["bunch_files"]:
        name, _, size = spec.partition(":")
        objects.append(ObjectInfo(DROP + name, "etag-" + name, int(size or 100), when))
    scan = scan_drop(objects, DROP)
    if scan.invalid:
        (invalid,) = scan.invalid
        return invalid
    (drop,) = scan.complete
    return apply_ok_listing(drop, (CORPUS / entry["file"]).read_text(encoding="utf-8"))


@pytest.mark.parametrize("entry", MANIFEST["ok_files"], ids=lambda e: e["file"])
def test_ok_file_is_refused_or_narrows_the_batch_as_the_manifest_says(entry):
    outcome = _drop(entry)
    if entry["refusal"]:
        assert isinstance(outcome, InvalidDrop) and entry["refusal"] in outcome.reason
        assert DROP + entry["file"] in outcome.keys
    else:
        assert isinstance(outcome, BatchDrop)
        assert [k.rsplit("/", 1)[-1] for k in outcome.unlisted_keys] == entry["unlisted"]
        assert not set(outcome.unlisted_keys) & set(outcome.bunch_keys)


@pytest.mark.parametrize("entry", MANIFEST["drop_names"], ids=lambda e: e["name"][:40])
def test_drop_name_is_refused_as_the_manifest_says(entry):
    parsed = parse_drop_name(DROP + entry["name"], DROP)
    assert isinstance(parsed, InvalidName) and entry["refusal"] in parsed.reason
    scan = scan_drop([ObjectInfo(DROP + entry["name"], "e", 10)], DROP)
    assert scan.complete == [] and [d.keys for d in scan.invalid] == [(DROP + entry["name"],)]
