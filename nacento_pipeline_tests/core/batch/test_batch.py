"""core.batch.parse: every format, every validation rule of the connector, and the batch rules (duplicates,
unreadable files), asserted on the resulting frames."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest

from nacento_pipeline.core.batch.parse import BatchFileError, BunchSource, ParsedBatch, parse_batch
from nacento_pipeline.core.frames import IMAGE_COLUMNS, REJECTION_COLUMNS

HEADER = "sku,file_path,label,position,disabled,roles\n"


def csv_source(name: str, body: str, header: str = HEADER) -> BunchSource:
    return BunchSource.from_bytes(name, (header + body).encode())


def bulk_source(name: str, items: list, request_id: str = "req-1") -> BunchSource:
    return BunchSource.from_bytes(
        name, json.dumps({"request": {"request_id": request_id, "items": items}}).encode()
    )


def one(items: list) -> ParsedBatch:
    return parse_batch([bulk_source("import-media_x_01.json", items)])


def errors(parsed: ParsedBatch, field: str | None = None) -> pd.DataFrame:
    rows = parsed.rejections.loc[parsed.rejections["severity"] == "error"]
    return rows if field is None else rows.loc[rows["field"] == field]


def warnings(parsed: ParsedBatch) -> pd.DataFrame:
    return parsed.rejections.loc[parsed.rejections["severity"] == "warning"]


def plain(frame: pd.DataFrame) -> list[tuple]:
    """Rows as tuples, <NA>/None as None (so that "not given" compares)."""
    values = frame.astype("object")
    return list(values.where(values.notna(), None).itertuples(index=False, name=None))


def rows(parsed: ParsedBatch, *columns: str) -> list[tuple]:
    return plain(parsed.images[list(columns)])


# --- formats -----------------------------------------------------------------------------------------


def test_gallery_csv_with_bom_quoted_roles_and_defaults() -> None:
    data = (
        "\ufeff" + HEADER + 'S1,/m/y/a.jpg,Front,1,0,"base,thumbnail"\nS1,m/y/b.jpg,,,,small|swatch\n'
    ).encode()
    parsed = parse_batch([BunchSource.from_bytes("b_01.csv", data)])
    assert tuple(parsed.images.columns) == IMAGE_COLUMNS
    assert tuple(parsed.rejections.columns) == REJECTION_COLUMNS
    assert rows(parsed, "sku", "value", "label", "position", "disabled", "roles", "line") == [
        ("S1", "/m/y/a.jpg", "Front", 1, False, "image|thumbnail", 2),
        ("S1", "/m/y/b.jpg", "", None, False, "small_image|swatch_image", 3),  # position not given: <NA>
    ]
    assert parsed.images["seq"].tolist() == [0, 1]
    assert parsed.rejections.empty
    assert parsed.stats["skus"] == 1 and parsed.stats["images"] == 2


def test_gallery_csv_item_spans_chunks_and_non_adjacent_rows() -> None:
    body = "A,a1.jpg,,,,\nB,b1.jpg,,,,\nA,a2.jpg,,,,\nB,b2.jpg,,,,\nA,a3.jpg,,,,\n"
    parsed = parse_batch([csv_source("b_01.csv", body)], chunk_rows=2)
    assert sorted(rows(parsed, "sku", "value")) == [
        ("A", "/a1.jpg"),
        ("A", "/a2.jpg"),
        ("A", "/a3.jpg"),
        ("B", "/b1.jpg"),
        ("B", "/b2.jpg"),
    ]
    assert parsed.stats["duplicate_skus"] == 0 and warnings(parsed).empty


def test_gallery_csv_blank_lines_keep_line_numbers() -> None:
    parsed = parse_batch([csv_source("b_01.csv", "A,a.jpg,,,,\n\nB,,,,,\n")])
    assert rows(parsed, "sku", "line") == [("A", 2)]
    assert errors(parsed, "file_path")[["sku", "line"]].values.tolist() == [["B", 4]]


def test_json_bulk_payload_streamed_in_tiny_chunks() -> None:
    payload = json.dumps(
        {
            "request": {
                "request_id": "r-42",
                "items": [
                    {
                        "sku": "S1",
                        "images": [
                            {
                                "file_path": "a.jpg",
                                "label": "L",
                                "position": 2,
                                "disabled": True,
                                "roles": ["base", "small"],
                            }
                        ],
                    },
                    {"sku": "S2", "images": [{"file_path": "b.jpg", "position": 2.0}]},
                ],
            }
        },
        indent=2,
    ).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(payload), 7):
            yield payload[i : i + 7]

    parsed = parse_batch([BunchSource("p_01.json", chunks)])
    assert parsed.request_ids == ("r-42",)
    assert rows(parsed, "sku", "value", "label", "position", "disabled", "roles", "line") == [
        ("S1", "/a.jpg", "L", 2, True, "image|small_image", 1),
        ("S2", "/b.jpg", "", 2, False, "", 2),
    ]


@pytest.mark.parametrize("name", ["p_01.jsonl", "p_01.json"])
def test_json_lines(name: str) -> None:
    data = (
        b'{"sku": "S1", "images": [{"file_path": "a.jpg"}]}\n\n'
        b'{"sku": "S2", "images": [{"file_path": "b.jpg", "position": "x"}]}\n'
    )
    parsed = parse_batch([BunchSource.from_bytes(name, data)])
    assert rows(parsed, "sku", "value", "line") == [("S1", "/a.jpg", 1)]
    assert errors(parsed, "position")[["sku", "line", "value"]].values.tolist() == [["S2", 3, "x"]]


NATIVE_HEADER = (
    "sku,name,store_view_code,base_image,base_image_label,small_image,small_image_label,"
    "thumbnail_image,thumbnail_image_label,swatch_image,additional_images,"
    "additional_image_labels,additional_image_positions,hide_from_product_page\n"
)


def test_native_csv_merges_paths_across_columns() -> None:
    body = (
        "N1,Shirt,,/n/a.jpg,Front,n/a.jpg,,/n/b.jpg,Thumb,__EMPTY__VALUE__,"
        '"/n/a.jpg,/n/c.jpg,/n/d.jpg","Other,Side,","","n/c.jpg"\n'
        "N1,Hemd,de,/n/z.jpg,,,,,,,,,,\n"
    )
    parsed = parse_batch([csv_source("n_01.csv", body, NATIVE_HEADER)])
    # Positions not given stay <NA> (the writer appends them in this order, as Magento's import does); the
    # de row's /n/z.jpg is not in the default row: Magento adds it to the gallery, without label or role.
    assert rows(parsed, "sku", "value", "label", "position", "disabled", "roles") == [
        ("N1", "/n/a.jpg", "Front", None, None, "image|small_image"),  # label/disabled not given: None
        ("N1", "/n/b.jpg", "Thumb", None, None, "thumbnail"),
        ("N1", "/n/c.jpg", "Side", None, True, ""),
        ("N1", "/n/d.jpg", None, None, None, ""),
        ("N1", "/n/z.jpg", None, None, None, ""),
    ]
    assert plain(
        parsed.store_values[["sku", "value", "store", "label", "position", "disabled", "roles", "line"]]
    ) == [("N1", "/n/z.jpg", "de", None, None, None, "image", 3)]
    assert parsed.stats["store_view_rows_ignored"] == 0
    # swatch_image was __EMPTY__VALUE__: Magento leaves the role alone, so this row sets three roles.
    assert plain(parsed.role_scope) == [("N1", "image|small_image|thumbnail")]
    assert parsed.default_mode == "append"
    assert parsed.rejections.empty


def test_native_csv_explicit_positions_and_custom_separator() -> None:
    header = "sku,additional_images,additional_image_labels,additional_image_positions\n"
    parsed = parse_batch([csv_source("n_01.csv", "N1,a.jpg;b.jpg,A;B,5;7\n", header)], list_separator=";")
    assert rows(parsed, "value", "label", "position") == [("/a.jpg", "A", 5), ("/b.jpg", "B", 7)]


def test_native_csv_rows_without_images_and_hidden_paths_not_in_the_row() -> None:
    header = "sku,base_image,additional_images,hide_from_product_page\n"
    body = "N1,,,\nN2,__EMPTY__VALUE__,__EMPTY__VALUE__,\nN3,a.jpg,,zz.jpg\nN4,,,h.jpg\n"
    parsed = parse_batch([csv_source("n_01.csv", body, header)])
    assert errors(parsed, "images")[["sku", "line"]].values.tolist() == [["N1", 2], ["N2", 3]]
    assert "never applied" in errors(parsed, "images")["reason"].iloc[1]
    # A hide_from_product_page path that no image column names is added, disabled (Magento's import).
    assert rows(parsed, "sku", "value", "disabled", "roles", "position") == [
        ("N3", "/a.jpg", None, "image", None),
        ("N3", "/zz.jpg", True, "", None),
        ("N4", "/h.jpg", True, "", None),
    ]
    assert plain(parsed.role_scope) == [("N3", "image"), ("N4", "")]
    assert warnings(parsed).empty


# --- validation and normalisation (connector-behaviour.md) ------------------------------------------------


def test_sku_is_trimmed() -> None:
    parsed = one([{"sku": "  S1 ", "images": [{"file_path": "a.jpg"}]}])
    assert rows(parsed, "sku") == [("S1",)]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"sku": " ", "images": [{"file_path": "a.jpg"}]}, "sku"),
        ({"images": [{"file_path": "a.jpg"}]}, "sku"),
        ({"sku": "S1", "images": []}, "images"),
        ({"sku": "S1"}, "images"),
        ({"sku": "S1", "images": "a"}, "images"),
        ("not an object", "sku"),
    ],
)
def test_item_with_empty_sku_or_no_images_is_rejected(item: object, field: str) -> None:
    parsed = one([item, {"sku": "OK", "images": [{"file_path": "b.jpg"}]}])
    assert rows(parsed, "sku") == [("OK",)]
    rejected = errors(parsed)
    assert rejected[["field", "line"]].values.tolist() == [[field, 1]]
    assert parsed.stats["rejected_items"] == 1


def test_duplicate_skus_last_valid_item_wins() -> None:
    parsed = one(
        [
            {"sku": "S1", "images": [{"file_path": "first.jpg"}]},
            {"sku": "S1", "images": [{"file_path": "second.jpg"}]},
            {"sku": "S1", "images": []},  # invalid: does not win
        ]
    )
    assert rows(parsed, "sku", "value") == [("S1", "/second.jpg")]
    dup = warnings(parsed)
    assert dup[["field", "line"]].values.tolist() == [["sku", 1]]
    assert "line 2" in dup["reason"].iloc[0]
    assert parsed.stats["duplicate_skus"] == 1


def test_sku_in_two_bunch_files_later_file_wins() -> None:
    first = csv_source("import-media_x_01.csv", "S1,a.jpg,,,,\nS1,b.jpg,,,,\nS2,c.jpg,,,,\n")
    second = csv_source("import-media_x_02.csv", "S1,d.jpg,,,,\n")
    parsed = parse_batch([first, second])
    assert sorted(rows(parsed, "sku", "value", "file")) == [
        ("S1", "/d.jpg", "import-media_x_02.csv"),
        ("S2", "/c.jpg", "import-media_x_01.csv"),
    ]
    assert warnings(parsed)[["file", "sku", "field"]].values.tolist() == [
        ["import-media_x_01.csv", "S1", "sku"]
    ]
    assert parsed.payload_values.sort_values(["sku", "value"]).values.tolist() == [
        ["S1", "/d.jpg"],
        ["S2", "/c.jpg"],
    ]


def image_rejection(image: dict) -> tuple[pd.DataFrame, ParsedBatch]:
    parsed = one([{"sku": "S1", "images": [image, {"file_path": "ok.jpg"}]}])
    return errors(parsed), parsed


@pytest.mark.parametrize(
    ("image", "field", "reason"),
    [
        ({"label": "x"}, "file_path", "missing or empty"),
        ({"file_path": "  "}, "file_path", "missing or empty"),
        ({"file_path": "a" * 1025}, "file_path", "longer than 1024"),
        ({"file_path": "a\x00.jpg"}, "file_path", "NUL"),
        ({"file_path": "a/../../b.jpg"}, "file_path", "traversal"),
        ({"file_path": "a/./b.jpg"}, "file_path", "traversal"),
        ({"file_path": "a.jpg", "label": "x" * 256}, "label", "longer than 255"),
        ({"file_path": "a.jpg", "position": 100001}, "position", "outside"),
        ({"file_path": "a.jpg", "position": -100001}, "position", "outside"),
        ({"file_path": "a.jpg", "position": "first"}, "position", "not an integer"),
        ({"file_path": "a.jpg", "position": 1.5}, "position", "not an integer"),
        ({"file_path": "a.jpg", "position": True}, "position", "integer"),
        ({"file_path": "a.jpg", "disabled": "maybe"}, "disabled", "not a boolean"),
        ({"file_path": "a.jpg", "label": ["x"]}, "label", "must be a string"),
        ({"file_path": "a.jpg", "roles": {"base": 1}}, "roles", "list of strings"),
        # issue 20: names Magento could not hold, control and bidi characters in labels
        ({"file_path": "a/b/x;touch${IFS}PWNED;.jpg"}, "file_path", "contains ';'"),
        ({"file_path": "a/b/shell.php"}, "file_path", "image extension"),
        ({"file_path": "a/%2e%2e/shell.php"}, "file_path", "percent-encoding"),
        ({"file_path": "a.jpg", "label": "front\nview"}, "label", "U+000A (a control character)"),
        ({"file_path": "a.jpg", "label": "front\r"}, "label", "U+000D"),
        ({"file_path": "a.jpg", "label": "a\x00b"}, "label", "U+0000"),
        ({"file_path": "a.jpg", "label": "a\tb"}, "label", "U+0009"),
        ({"file_path": "a.jpg", "label": "a\x85b"}, "label", "U+0085"),
        (
            {"file_path": "a.jpg", "label": "gpj.\u202eexe"},
            "label",
            "U+202E (a bidirectional control character)",
        ),
        ({"file_path": "a.jpg", "label": "x\u2066y"}, "label", "U+2066"),
    ],
)
def test_image_rejections_name_field_and_reason(image: dict, field: str, reason: str) -> None:
    rejected, parsed = image_rejection(image)
    assert rejected[["field", "sku", "line"]].values.tolist() == [[field, "S1", 1]]
    assert reason in rejected["reason"].iloc[0]
    assert rows(parsed, "value") == [("/ok.jpg",)]
    assert parsed.invalid_skus == {"S1"}
    assert parsed.stats["rejected_images"] == 1


def test_limits_are_inclusive() -> None:
    parsed = one(
        [
            {
                "sku": "S1",
                "images": [
                    {"file_path": "a.jpg", "label": "x" * 255, "position": 100000},
                    {"file_path": "b.jpg", "position": "-100000"},
                    {"file_path": "https://cdn.example/c.jpg?" + "v" * 998},  # 1024 characters as given
                    {
                        "file_path": "/" + "d" * 250 + ".jpg"
                    },  # a gallery value of 255 characters, Magento's column size
                ],
            }
        ]
    )
    assert rows(parsed, "position") == [(100000,), (-100000,), (None,), (None,)]
    assert parsed.rejections.empty


def test_gallery_value_longer_than_magentos_column_is_rejected() -> None:
    # catalog_product_entity_media_gallery.value is varchar(255): a longer value would fail the SKU on a
    # strict server and be silently truncated (a wrong path) on a lenient one.
    parsed = one(
        [{"sku": "S1", "images": [{"file_path": "ok.jpg"}, {"file_path": "m/" + "e" * 249 + ".jpg"}]}]
    )
    rejected = errors(parsed, "file_path")
    assert rejected[["sku", "line"]].values.tolist() == [["S1", 1]]
    assert "255" in rejected["reason"].iloc[0]
    assert rows(parsed, "value") == [("/ok.jpg",)] and parsed.invalid_skus == {"S1"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("yes", True),
        ("no", False),
        ("on", True),
        ("off", False),
        ("TRUE", True),
        ("false", False),
        ("1", True),
        ("0", False),
        (None, False),
    ],
)
def test_disabled_accepts_booleans_words_and_digits(raw: object, expected: bool) -> None:
    parsed = one([{"sku": "S1", "images": [{"file_path": "a.jpg", "disabled": raw}]}])
    assert rows(parsed, "disabled") == [(expected,)]


def test_paths_are_normalised_and_url_forms_accepted() -> None:
    parsed = one(
        [
            {
                "sku": "S1",
                "images": [
                    {"file_path": " \\m\\y//a.jpg/ "},
                    {"file_path": "https://cdn.example.com/pub/media/catalog/product/m/y/b.jpg?v=1#x"},
                    {"file_path": "s3://bucket/media/catalog/product/m/y/c.jpg"},
                ],
            }
        ]
    )
    assert rows(parsed, "value") == [("/m/y/a.jpg",), ("/m/y/b.jpg",), ("/m/y/c.jpg",)]


def test_same_path_twice_keeps_the_last_with_a_warning() -> None:
    parsed = one(
        [
            {
                "sku": "S1",
                "images": [
                    {"file_path": "/m/a.jpg", "label": "old"},
                    {"file_path": "m/a.jpg", "label": "new"},
                ],
            }
        ]
    )
    assert rows(parsed, "value", "label") == [("/m/a.jpg", "new")]
    assert warnings(parsed)[["field", "value"]].values.tolist() == [["file_path", "/m/a.jpg"]]
    assert parsed.stats["duplicate_paths"] == 1


def test_unknown_roles_are_warnings_and_the_image_is_kept() -> None:
    # a name that can be an attribute code is kept as a role by code (a custom media_image attribute; the
    # delta checks it against the shop's); other names are warned about here
    parsed = one(
        [{"sku": "S1", "images": [{"file_path": "a.jpg", "roles": ["Base", "hero", "base", "Hero Shot!"]}]}]
    )
    assert rows(parsed, "roles") == [("image|hero",)]
    assert warnings(parsed)[["field", "reason"]].values.tolist() == [
        ["roles", "unknown role(s) ignored: hero shot!"]
    ]
    assert parsed.invalid_skus == frozenset()


def test_payload_values_keep_paths_rejected_for_another_field() -> None:
    parsed = one(
        [
            {
                "sku": "S1",
                "images": [
                    {"file_path": "a.jpg", "label": "x" * 300},
                    {"file_path": "../b.jpg"},
                    {"file_path": "c.jpg"},
                ],
            },
            {"sku": "S2", "images": [{"file_path": "d.jpg"}]},
        ]
    )
    assert parsed.payload_values.values.tolist() == [["S1", "/a.jpg"], ["S1", "/c.jpg"], ["S2", "/d.jpg"]]
    assert parsed.invalid_skus == {"S1"}
    assert rows(parsed, "sku", "value") == [("S1", "/c.jpg"), ("S2", "/d.jpg")]


def test_rejection_values_are_truncated_to_200_characters() -> None:
    rejected, _ = image_rejection({"file_path": "a" * 1500})
    assert len(rejected["value"].iloc[0]) == 200


def test_request_id_written_after_the_items_is_found() -> None:
    data = json.dumps(
        {"request": {"items": [{"sku": "S1", "images": [{"file_path": "a.jpg"}]}], "request_id": "late"}}
    ).encode()
    parsed = parse_batch([BunchSource.from_bytes("p_01.json", data)])
    assert parsed.request_ids == ("late",)
    assert rows(parsed, "sku") == [("S1",)]


def test_utf8_error_line_is_exact_across_chunk_boundaries() -> None:
    data = (HEADER + "S1,a.jpg,,,,\n" * 50 + "S2,\u00e9.jpg,,,,\n").encode()
    data = data.replace("\u00e9".encode(), b"\xc3\x28")  # broken 2-byte sequence on line 52

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 13):
            yield data[i : i + 13]

    parsed = parse_batch([BunchSource("x_01.csv", chunks)])
    assert parsed.file_errors["line"].tolist() == [52]
    assert parsed.images.empty


def test_seq_is_global_payload_order_across_files() -> None:
    parsed = parse_batch(
        [
            csv_source("a_01.csv", "S1,a.jpg,,,,image\nS1,b.jpg,,,,image\n"),
            bulk_source("a_02.json", [{"sku": "S2", "images": [{"file_path": "c.jpg"}]}]),
        ]
    )
    assert rows(parsed, "value", "seq") == [("/a.jpg", 0), ("/b.jpg", 1), ("/c.jpg", 2)]


# --- unreadable files -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "reason", "line"),
    [
        ("x_01.csv", (HEADER + "S1,a.jpg,,,,\nS2,b\xff.jpg,,,,\n").encode("latin-1"), "UTF-8 on line 3", 3),
        ("x_01.jsonl", b'{"sku": "S1", "images": [{"file_path": "a\xe9.jpg"}]}\n', "UTF-8 on line 1", 1),
        ("x_01.csv", b"sku,label\nS1,x\n", "neither", 1),
        ("x_01.csv", b"sku,file_path,label\nS1,a.jpg\nS1,b.jpg,x,y,z\n", "line 3", 3),
        ("x_01.csv", b"", "empty", 1),
        ("x_01.json", b'{"request": {"items": [{"sku": "S1", "images": [', "malformed JSON", 0),
        ("x_01.json", b'{"other": 1}', 'no "request"', 0),
        ("x_01.jsonl", b'{"sku": "S1", "images": [{"file_path": "a.jpg"}]}\n{"sku": \n', "line 2", 2),
        ("x_01.xml", b"<x/>", "unsupported extension", 0),
    ],
)
def test_unreadable_file_is_one_file_rejection(name: str, data: bytes, reason: str, line: int) -> None:
    good = csv_source("x_00.csv", "G1,g.jpg,,,,\n")
    parsed = parse_batch([good, BunchSource.from_bytes(name, data)])
    assert rows(parsed, "sku") == [("G1",)]  # nothing of the broken file is kept
    broken = parsed.file_errors
    assert broken[["file", "field", "sku"]].values.tolist() == [[name, "file", ""]]
    assert reason in broken["reason"].iloc[0]
    if line:
        assert broken["line"].iloc[0] == line
    assert parsed.stats["files_unreadable"] == 1
    with pytest.raises(BatchFileError) as caught:  # fail-fast callers get the same refusal raised
        parse_batch([good, BunchSource.from_bytes(name, data)], fail_fast=True)
    assert caught.value.file == name and reason in caught.value.reason


def test_fail_fast_raises_with_file_and_line() -> None:
    with pytest.raises(BatchFileError) as caught:
        parse_batch([BunchSource.from_bytes("x_01.csv", b"sku,label\n")], fail_fast=True)
    assert caught.value.file == "x_01.csv" and caught.value.line == 1 and caught.value.field == "file"


def test_empty_batch_has_contract_columns() -> None:
    parsed = parse_batch([])
    assert tuple(parsed.images.columns) == IMAGE_COLUMNS and parsed.images.empty
    assert tuple(parsed.rejections.columns) == REJECTION_COLUMNS and parsed.rejections.empty
    assert list(parsed.payload_values.columns) == ["sku", "value"]


def test_labels_keep_ordinary_unicode_and_become_nfc() -> None:
    labels = [
        "Fr\u00f6nt",
        "Fro\u0308nt",
        "\u05d7\u05d6\u05d9\u05ea",
        "\u200fRLM mark",
        "\u65e5\u672c \U0001f468\u200d\U0001f469",
    ]
    parsed = one(
        [
            {
                "sku": "S1",
                "images": [{"file_path": f"{i}.jpg", "label": label} for i, label in enumerate(labels)],
            }
        ]
    )
    assert parsed.rejections.empty
    assert [label for (label,) in rows(parsed, "label")] == [
        "Fr\u00f6nt",
        "Fr\u00f6nt",
        "\u05d7\u05d6\u05d9\u05ea",
        "\u200fRLM mark",
        "\u65e5\u672c \U0001f468\u200d\U0001f469",
    ]


@pytest.mark.parametrize(
    ("sku", "reason"),
    [
        ("S" * 65, "longer than 64"),
        ("S\x001", "U+0000"),
        ("S\n1", "U+000A"),
        ("S\r1", "U+000D"),
    ],
)
def test_sku_rules(sku: str, reason: str) -> None:
    parsed = one(
        [
            {"sku": sku, "images": [{"file_path": "a.jpg"}]},
            {"sku": "S" * 64, "images": [{"file_path": "b.jpg"}]},
        ]
    )
    rejected = errors(parsed, "sku")
    assert len(rejected) == 1 and reason in rejected["reason"].iloc[0]
    assert rows(parsed, "sku", "value") == [("S" * 64, "/b.jpg")]


def test_store_view_labels_follow_the_same_rules() -> None:
    parsed = one(
        [
            {
                "sku": "S1",
                "images": [
                    {"file_path": "a.jpg", "stores": {"de": {"label": "Vorne\u202e"}}},
                    {"file_path": "b.jpg", "stores": {"de": {"label": "Ru\u0308ckseite"}}},
                ],
            }
        ]
    )
    rejected = errors(parsed)
    assert rejected[["field", "line"]].values.tolist() == [["stores.de.label", 1]]
    assert "U+202E" in rejected["reason"].iloc[0]
    assert parsed.store_values["label"].tolist() == ["R\u00fcckseite"]


@pytest.mark.parametrize("name", ["x_01.csv", "x_01.jsonl"])
def test_a_field_over_the_length_cap_makes_the_file_unreadable_naming_line_and_field(name: str) -> None:
    from nacento_pipeline.core.batch.input_limits import InputLimits

    long_label = "L" * 101
    if name.endswith(".csv"):
        data = (HEADER + "S1,a.jpg,ok,,,\nS2,b.jpg," + long_label + ",,,\n").encode()
    else:
        data = (
            "\n".join(
                json.dumps({"sku": s, "images": [{"file_path": "a.jpg", "label": label}]})
                for s, label in (("S1", "ok"), ("S2", long_label))
            ).encode()
            + b"\n"
        )
    good = csv_source("x_00.csv", "G1,g.jpg,,,,\n")
    parsed = parse_batch([good, BunchSource.from_bytes(name, data)], limits=InputLimits(field_chars=100))
    assert rows(parsed, "sku") == [("G1",)]
    [error] = parsed.file_errors.to_dict("records")
    assert error["file"] == name and error["line"] == (3 if name.endswith(".csv") else 2)
    assert (
        "field label is 101 characters long" in error["reason"]
        and "NACENTO_MAX_FIELD_CHARS" in error["reason"]
    )
    assert not parse_batch(
        [BunchSource.from_bytes(name, data)], limits=InputLimits(field_chars=101)
    ).file_errors.size


def test_a_batch_over_the_image_row_cap_is_refused_at_the_file_that_passes_it() -> None:
    from nacento_pipeline.core.batch.input_limits import InputLimits

    first = csv_source("x_01.csv", "".join(f"S{i},a{i}.jpg,,,,\n" for i in range(3)))
    second = csv_source("x_02.csv", "".join(f"T{i},b{i}.jpg,,,,\n" for i in range(3)))
    parsed = parse_batch([first, second], limits=InputLimits(batch_images=4))
    [error] = parsed.file_errors.to_dict("records")
    assert error["file"] == "x_02.csv" and error["line"] == 3  # the 5th image row of the batch
    assert "more than 4 image rows" in error["reason"] and "NACENTO_MAX_BATCH_IMAGES" in error["reason"]
