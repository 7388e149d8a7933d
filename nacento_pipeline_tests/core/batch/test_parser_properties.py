"""Properties of the parser and the sync (hypothesis), with modest example counts (the file runs in < 60 s).

- Arbitrary bytes and arbitrary JSON given to every reader (gallery CSV, native CSV, JSON bulk, JSON Lines,
  the sensor's sniff, the OK-file listing, drop names) end in rejections, never in an exception.
- Applying a batch twice writes nothing the second time, and the delta of a batch against the state it
  produced changes nothing (SQLite, Magento's tables as the demo schema creates them).
"""

from __future__ import annotations

import functools
import io
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nacento_pipeline.core.batch.parse import BunchSource, ParsedBatch, parse_batch
from nacento_pipeline.core.batch.readers.json import _DepthGuard, _TooDeep
from nacento_pipeline.core.batch.sniffing import SNIFF_BYTES, sniff_bunch
from nacento_pipeline.core.drop.dropzone import BatchDrop, InvalidDrop, apply_ok_listing, parse_drop_name
from nacento_pipeline.core.frames import REJECTION_COLUMNS
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema, seed_demo_products
from nacento_pipeline.magento.gallery.sync import plan_gallery, sync_gallery
from nacento_pipeline_tests.helpers import etag_frame

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GALLERY_HEADER = b"sku,file_path,label,position,disabled,roles\n"
NATIVE_HEADER = (
    b"sku,store_view_code,base_image,base_image_label,small_image,additional_images,"
    b"additional_image_labels,additional_image_positions,hide_from_product_page\n"
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(['[[{"', '\\"]', "\\\\", '\\\\"{']),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "sku",
                    "images",
                    "file_path",
                    "label",
                    "position",
                    "disabled",
                    "roles",
                    "stores",
                    "de",
                    "request",
                    "items",
                    "request_id",
                    '"[{',
                    "\\",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def _parse(name: str, data: bytes) -> ParsedBatch:
    parsed = parse_batch([BunchSource.from_bytes(name, data)])
    assert tuple(parsed.rejections.columns) == REJECTION_COLUMNS
    assert parsed.images["sku"].str.strip().ne("").all()
    return parsed


def _sniff(name: str, data: bytes) -> None:
    reason = sniff_bunch(name, data[:SNIFF_BYTES], len(data))
    assert reason is None or reason.startswith(name)


@FAST
@given(
    data=st.binary(max_size=400),
    ext=st.sampled_from(["csv", "json", "jsonl", "txt"]),
    prefix=st.sampled_from([b"", GALLERY_HEADER, NATIVE_HEADER, b'{"request": {"items": [', b"\xef\xbb\xbf"]),
)
def test_arbitrary_bytes_are_refused_never_raised(data, ext, prefix):
    name = f"import-media_p_01.{ext}"
    _parse(name, prefix + data)
    _sniff(name, prefix + data)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=200))
def test_arbitrary_csv_text_after_a_header_is_refused_never_raised(text):
    for header in (GALLERY_HEADER, NATIVE_HEADER):
        data = header + text.encode("utf-8", errors="surrogatepass")
        _parse("import-media_p_01.csv", data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_arbitrary_json_is_refused_never_raised(value):
    text = json.dumps(value)
    _parse("import-media_p_01.json", text.encode())
    _parse("import-media_p_01.jsonl", text.encode() + b"\n")
    wrapped = {
        "request": {
            "request_id": "r",
            "items": [
                value,
                {"sku": "A", "images": [value]},
                {"sku": "B", "images": [{"file_path": "/a/b.jpg", "stores": value}]},
            ],
        }
    }
    _parse("import-media_p_01.json", json.dumps(wrapped).encode())
    _sniff("import-media_p_01.json", json.dumps(wrapped).encode())


@FAST
@given(text=st.text(max_size=200), name=st.text(max_size=60))
def test_ok_listings_and_drop_names_are_refused_never_raised(text, name):
    drop = BatchDrop(
        "media_p",
        "media",
        "p",
        "d/import-media_p.ok",
        "e",
        None,
        ("d/import-media_p_01.csv",),
        ("e1",),
        10,
        (10,),
    )
    assert isinstance(apply_ok_listing(drop, text), BatchDrop | InvalidDrop)
    parse_drop_name("d/" + name, "d/")


# --- applying a batch ----------------------------------------------------------------------------------

SKUS = ["S1", "S2", "S3"]
PATHS = ["/a/b/a.jpg", "/a/b/b.jpg", "/c/d/c.png", "/c/d/d.gif", "e/f/e.jpg"]
image = st.fixed_dictionaries(
    {"file_path": st.sampled_from(PATHS)},
    optional={
        "label": st.none() | st.sampled_from(["", "Front", "Back", "Fr\u00f6nt"]),
        "position": st.none() | st.integers(-3, 6),
        "disabled": st.booleans(),
        "roles": st.lists(
            st.sampled_from(["base", "small_image", "thumbnail", "swatch_image", "odd"]), max_size=3
        ),
    },
)
item = st.fixed_dictionaries(
    {"sku": st.sampled_from(SKUS), "images": st.lists(image, min_size=1, max_size=4)}
)
batch_items = st.lists(item, min_size=1, max_size=5)


@functools.cache
def _template_database() -> Path:
    """A SQLite file with the demo schema and SKUS, copied for every example (creating it is what is slow)."""
    path = Path(tempfile.mkdtemp(prefix="nacento-props-")) / "template.sqlite"
    db = MagentoDatabase(f"sqlite:///{path}")
    try:
        create_demo_schema(db.engine)
        seed_demo_products(db.engine, SKUS)
    finally:
        db.dispose()
    return path


def _batch(items: list[dict]) -> ParsedBatch:
    lines = "".join(json.dumps(i) + "\n" for i in items).encode()
    return parse_batch([BunchSource.from_bytes("import-media_p_01.jsonl", lines)])


def _etags(parsed: ParsedBatch, missing: set[str]) -> pd.DataFrame:
    values = set(parsed.images["value"])
    return etag_frame({v: "etag-" + v for v in values - missing}, sorted(values & missing))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=batch_items,
    second=batch_items,
    missing=st.sets(st.sampled_from(PATHS), max_size=1),
    mode=st.sampled_from(["replace_owned", "replace_all", "append"]),
)
def test_a_batch_applied_twice_writes_nothing_the_second_time_and_its_delta_is_then_empty(
    first, second, missing, mode
):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "magento.sqlite"
        shutil.copyfile(_template_database(), path)
        db = MagentoDatabase(f"sqlite:///{path}")
        try:
            when = datetime(2026, 11, 22, 12, tzinfo=UTC)
            older = _batch(first)
            sync_gallery(db, older, _etags(older, set()), mode=mode, batch_key="media_1", batch_time=when)
            batch = _batch(second)
            etags = _etags(batch, {"/" + p.lstrip("/") for p in missing})
            later = datetime(2026, 11, 22, 13, tzinfo=UTC)
            sync_gallery(db, batch, etags, mode=mode, batch_key="media_2", batch_time=later)
            again = sync_gallery(db, batch, etags, mode=mode, batch_key="media_2", batch_time=later)
            assert again.write_statements == 0, again.items[["sku", "value", "action", "reason"]]
            assert again.errors == []
            planned = plan_gallery(db, batch, etags, mode=mode, batch_key="media_2", batch_time=later)
            assert planned.changed_entity_ids == [], planned.items[["sku", "value", "action"]]
            assert planned.counts().get("purged", 0) == 0
        finally:
            db.dispose()


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, read_size=st.integers(1, 9), limit=st.integers(1, 4))
def test_depth_guard_measures_nesting_outside_strings_across_reads(value, read_size, limit):
    text = json.dumps(value, ensure_ascii=False).encode()
    guard = _DepthGuard(io.BufferedReader(io.BytesIO(text)), limit=limit)
    try:
        while guard.read(read_size):
            pass
        too_deep = False
    except _TooDeep:
        too_deep = True
    assert too_deep == (_depth(value) > limit)
