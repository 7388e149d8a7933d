"""The format registry (core.batch.formats): the drop convention, the sensor's sniff and the parser all follow
it, so a format registered with its reader (the toy format of toy_format.py) is accepted, sniffed and parsed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nacento_pipeline.core.batch.formats import (
    CSV_FORMAT,
    BunchFormat,
    bunch_extensions,
    register_format,
    registered_formats,
)
from nacento_pipeline.core.batch.parse import BunchSource, parse_batch
from nacento_pipeline.core.batch.sniffing import SNIFF_BYTES, sniff_bunch
from nacento_pipeline.core.drop.dropzone import DropName, InvalidName, parse_drop_name
from nacento_pipeline_tests.core.toy_format import TOY_SHAPE, toy_format_registered

DROP = "pim-drop/"
TOY = b"A\t/a/b/a.jpg\tfront\nA\t/a/b/b.jpg\n\nB\t/a/b/c.jpg\tback\n"
SAME_AS_CSV = b"sku,file_path,label\nA,/a/b/a.jpg,front\nA,/a/b/b.jpg,\nB,/a/b/c.jpg,back\n"
IMAGE_FIELDS = ["sku", "value", "label", "position", "disabled", "roles"]


@pytest.fixture
def toy_format() -> Iterator[BunchFormat]:
    with toy_format_registered() as registered:
        yield registered


def _images(data: bytes, name: str) -> list[list[object]]:
    parsed = parse_batch([BunchSource.from_bytes(name, data)])
    assert parsed.rejections.empty
    return parsed.images[IMAGE_FIELDS].astype("object").values.tolist()


def test_the_built_in_formats_are_registered() -> None:
    assert bunch_extensions() == ("csv", "json", "jsonl")
    assert registered_formats().startswith(".csv (gallery CSV")


def test_a_drop_name_of_a_registered_format_is_accepted_and_refused_once_it_is_removed() -> None:
    key = DROP + "import-media_t_01.toy"
    with toy_format_registered():
        parsed = parse_drop_name(key, DROP)
        assert isinstance(parsed, DropName)
        assert (parsed.kind, parsed.batch_key, parsed.counter, parsed.ext) == ("bunch", "media_t", 1, "toy")
    refused = parse_drop_name(key, DROP)
    assert isinstance(refused, InvalidName) and ".toy" not in refused.reason


def test_the_refusal_of_an_unknown_extension_lists_the_registered_formats(toy_format: BunchFormat) -> None:
    refused = parse_drop_name(DROP + "import-media_t_01.xml", DROP)
    assert isinstance(refused, InvalidName)
    assert refused.reason.startswith(
        "extension must be one of the registered bunch formats (.csv (gallery CSV"
    )
    assert ".toy (toy lines sku<TAB>file_path[<TAB>label])" in refused.reason
    assert refused.reason.endswith("or .ok for the OK file")


def test_a_toy_file_is_parsed_into_the_same_image_table_as_a_gallery_csv(toy_format: BunchFormat) -> None:
    toy = _images(TOY, "import-media_t_01.toy")
    assert toy == _images(SAME_AS_CSV, "import-media_t_01.csv")
    assert [row[:3] for row in toy] == [
        ["A", "/a/b/a.jpg", "front"],
        ["A", "/a/b/b.jpg", ""],
        ["B", "/a/b/c.jpg", "back"],
    ]


def test_a_batch_may_mix_registered_formats(toy_format: BunchFormat) -> None:
    parsed = parse_batch(
        [
            BunchSource.from_bytes("x_01.csv", b"sku,file_path\nA,/old/a.jpg\nC,/c/c.jpg\n"),
            BunchSource.from_bytes("x_02.toy", TOY),
        ]
    )
    assert parsed.images[["sku", "value", "file"]].values.tolist() == [
        ["C", "/c/c.jpg", "x_01.csv"],
        ["A", "/a/b/a.jpg", "x_02.toy"],
        ["A", "/a/b/b.jpg", "x_02.toy"],
        ["B", "/a/b/c.jpg", "x_02.toy"],
    ]
    assert parsed.stats["duplicate_skus"] == 1 and parsed.default_mode is None


def test_the_sniff_uses_the_toy_reader_and_start_check(toy_format: BunchFormat) -> None:
    assert sniff_bunch("x_01.toy", TOY, len(TOY)) is None
    broken = TOY + b"no tab on line five\n"
    assert sniff_bunch("x_01.toy", broken, len(broken)) == f"x_01.toy:5: {TOY_SHAPE}"
    large = b"no tab\n" + TOY * (SNIFF_BYTES // len(TOY) + 1)
    assert sniff_bunch("x_01.toy", large[:SNIFF_BYTES], len(large)) == f"x_01.toy:1: {TOY_SHAPE}"
    good_large = TOY * (SNIFF_BYTES // len(TOY) + 1)
    assert sniff_bunch("x_01.toy", good_large[:SNIFF_BYTES], len(good_large)) is None


def test_an_unregistered_extension_is_one_file_rejection_naming_the_registered_formats() -> None:
    parsed = parse_batch([BunchSource.from_bytes("x_01.toy", TOY)])
    assert parsed.images.empty
    reason = parsed.file_errors["reason"].tolist()
    assert len(reason) == 1 and reason[0].startswith(
        "unsupported extension 'toy' (registered formats: .csv ("
    )
    assert sniff_bunch("x_01.toy", TOY, len(TOY)) == f"x_01.toy: {reason[0]}"


@pytest.mark.parametrize("extensions", [("csv",), ("ok",), ("TSV",), (".tsv",), ("",)])
def test_an_extension_taken_or_malformed_cannot_be_registered(extensions: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="extension"):
        register_format(BunchFormat(extensions, CSV_FORMAT.read, CSV_FORMAT.check_start, "clash"))
    assert bunch_extensions() == ("csv", "json", "jsonl")
