"""Arbitrary image rows in every input format end in a faithful parse or a clear rejection (hypothesis).

One image row (SKU, file_path, label, position), drawn from names Magento could hold and from arbitrary
text alike, is written as a gallery CSV, a native CSV, a JSON bulk payload and a JSON Lines file. Parsing
each must give either exactly that image, as the rules say it is (SKU trimmed, the canonical gallery value,
the label in NFC, the position as an integer), or no image and an error naming the file, the row's line, a
field and a reason. Never an exception, never a changed value.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nacento_pipeline.core.batch.parse import BunchSource, ParsedBatch, parse_batch
from nacento_pipeline.core.errors import InvalidPath
from nacento_pipeline.core.paths import normalize_file_path

ROW_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAME_CHARS = "abcXYZ019_-."
FIELDS = {"file", "sku", "file_path", "base_image", "label", "base_image_label", "position", "images"}

names = st.text(NAME_CHARS, min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
magento_paths = st.builds(
    lambda dirs, name, ext: "/".join([*dirs, name]) + ext,
    st.lists(names, max_size=3),
    names,
    st.sampled_from([".jpg", ".PNG", ".jpeg", ".gif"]),
)
any_text = st.text(max_size=40)
skus = st.one_of(st.text("ABC-_019", min_size=1, max_size=12), any_text)
paths = st.one_of(magento_paths, any_text, st.builds(lambda p, t: p + t, magento_paths, any_text))
labels = st.one_of(st.text(st.characters(categories=["L", "N", "Zs", "P", "S", "M"]), max_size=30), any_text)
positions = st.one_of(st.integers(-200_000, 200_000).map(str), st.just(""), any_text)


@dataclass(frozen=True)
class Row:
    sku: str
    file_path: str
    label: str
    position: str


rows = st.builds(Row, skus, paths, labels, positions)


def _csv(header: list[str], cells: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a bare CR would end the row
    writer.writerow(header)
    writer.writerow(cells)
    return out.getvalue().encode("utf-8", errors="surrogatepass")


def gallery_csv(row: Row) -> bytes:
    return _csv(["sku", "file_path", "label", "position"], [row.sku, row.file_path, row.label, row.position])


def native_csv(row: Row) -> bytes:
    return _csv(
        ["sku", "store_view_code", "base_image", "base_image_label"], [row.sku, "", row.file_path, row.label]
    )


def _image(row: Row) -> dict:
    image: dict[str, object] = {"file_path": row.file_path, "label": row.label}
    if row.position:
        image["position"] = int(row.position) if row.position.lstrip("+-").isdigit() else row.position
    return image


def json_bulk(row: Row) -> bytes:
    item = {"sku": row.sku, "images": [_image(row)]}
    return json.dumps({"request": {"request_id": "r1", "items": [item]}}).encode()


def json_lines(row: Row) -> bytes:
    return (json.dumps({"sku": row.sku, "images": [_image(row)]}) + "\n").encode()


def _expected(row: Row, native: bool) -> tuple[str, str, str | None, int | None] | None:
    """The image the rules make of `row`, or None when one of them refuses it (the parse then must say so).
    A native CSV has no position for `base_image`, and an empty label cell there says nothing (None)."""
    try:
        value = normalize_file_path(row.file_path)
    except InvalidPath:
        return None
    position = "" if native else row.position.strip()
    label = None if native and row.label == "" else unicodedata.normalize("NFC", row.label)
    return row.sku.strip(), value, label, int(position) if position else None


def _check(name: str, parsed: ParsedBatch, row: Row, line: int, native: bool = False) -> None:
    errors = parsed.rejections[parsed.rejections["severity"] == "error"]
    images = parsed.images
    if images.empty:
        assert len(errors) >= 1, f"{name}: the row vanished without a rejection"
        assert set(errors["file"]) == {name}, errors
        assert set(errors["line"]) <= {line, 0 if "file" in set(errors["field"]) else line}, errors
        assert set(errors["field"]) <= FIELDS, errors
        assert (errors["reason"].str.len() > 0).all(), errors
        return
    assert errors.empty and len(images) == 1, (errors, images)
    image = images.iloc[0]
    expected = _expected(row, native)
    assert expected is not None, f"{name}: {row.file_path!r} was accepted as {image['value']!r}"
    position = (
        None if image["position"] is None or str(image["position"]) == "<NA>" else int(image["position"])
    )
    got = (image["sku"], image["value"], image["label"], position)
    assert got == expected
    assert (image["file"], int(image["line"])) == (name, line)


def _blank(row: Row, *cells: str) -> bool:
    """A CSV row whose cells are all blank is skipped, as an empty line is."""
    return all(not cell.strip() for cell in cells)


def _parse(name: str, data: bytes) -> ParsedBatch:
    return parse_batch([BunchSource.from_bytes(name, data)])


@ROW_SETTINGS
@given(row=rows)
def test_gallery_csv_row_is_parsed_faithfully_or_refused(row: Row) -> None:
    name = "import-media_p_01.csv"
    parsed = _parse(name, gallery_csv(row))
    if _blank(row, row.sku, row.file_path, row.label, row.position):
        assert parsed.images.empty
        return
    _check(name, parsed, row, line=2)


@ROW_SETTINGS
@given(row=rows)
def test_native_csv_row_is_parsed_faithfully_or_refused(row: Row) -> None:
    name = "import-media_p_01.csv"
    parsed = _parse(name, native_csv(row))
    if _blank(row, row.sku, row.file_path, row.label) or (row.sku.strip() and not row.file_path.strip()):
        assert parsed.images.empty  # no image named: nothing to do for this SKU
        return
    _check(name, parsed, row, line=2, native=True)


@ROW_SETTINGS
@given(row=rows)
def test_json_bulk_item_is_parsed_faithfully_or_refused(row: Row) -> None:
    name = "import-media_p_01.json"
    _check(name, _parse(name, json_bulk(row)), row, line=1)


@ROW_SETTINGS
@given(row=rows)
def test_json_lines_item_is_parsed_faithfully_or_refused(row: Row) -> None:
    name = "import-media_p_01.jsonl"
    _check(name, _parse(name, json_lines(row)), row, line=1)
