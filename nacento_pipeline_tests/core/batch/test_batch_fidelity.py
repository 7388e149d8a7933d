"""core.batch.parse, issue 8's input side: positions not given, store-level values (JSON `stores` maps and
native `store_view_code` rows), native CSV with Magento's import semantics, and the batch's default mode.

Every rule is asserted on the frames the parser hands to the delta (values, dtypes, rejections)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from nacento_pipeline.core.batch.parse import BunchSource, ParsedBatch, parse_batch
from nacento_pipeline.core.frames import IMAGE_COLUMNS, ROLE_SCOPE_COLUMNS, STORE_VALUE_COLUMNS

GALLERY_HEADER = "sku,file_path,label,position,disabled,roles\n"
NATIVE_HEADER = (
    "sku,name,store_view_code,base_image,base_image_label,small_image,small_image_label,"
    "thumbnail_image,thumbnail_image_label,swatch_image,swatch_image_label,additional_images,"
    "additional_image_labels,additional_image_positions,hide_from_product_page\n"
)


def native_row(
    sku: str,
    store: str = "",
    *,
    base: str = "",
    base_label: str = "",
    small: str = "",
    small_label: str = "",
    thumb: str = "",
    thumb_label: str = "",
    swatch: str = "",
    swatch_label: str = "",
    additional: str = "",
    labels: str = "",
    positions: str = "",
    hide: str = "",
    name: str = "Name",
) -> str:
    cells = [
        sku,
        name,
        store,
        base,
        base_label,
        small,
        small_label,
        thumb,
        thumb_label,
        swatch,
        swatch_label,
        additional,
        labels,
        positions,
        hide,
    ]
    return ",".join(f'"{cell}"' if "," in cell else cell for cell in cells) + "\n"


def native(name: str, *rows: str) -> BunchSource:
    return BunchSource.from_bytes(name, (NATIVE_HEADER + "".join(rows)).encode())


def bulk(name: str, items: list) -> BunchSource:
    return BunchSource.from_bytes(name, json.dumps({"request": {"request_id": "r", "items": items}}).encode())


def jsonl(name: str, items: list) -> BunchSource:
    return BunchSource.from_bytes(name, "".join(json.dumps(item) + "\n" for item in items).encode())


def gallery(name: str, body: str) -> BunchSource:
    return BunchSource.from_bytes(name, (GALLERY_HEADER + body).encode())


def plain(frame: pd.DataFrame) -> list[tuple]:
    values = frame.astype("object")
    return list(values.where(values.notna(), None).itertuples(index=False, name=None))


def images(parsed: ParsedBatch, *columns: str) -> list[tuple]:
    return plain(parsed.images[list(columns)])


def stores(parsed: ParsedBatch, *columns: str) -> list[tuple]:
    return plain(
        parsed.store_values[
            list(columns or ("sku", "value", "store", "label", "position", "disabled", "roles"))
        ]
    )


def problems(parsed: ParsedBatch, severity: str = "error") -> list[tuple]:
    rows = parsed.rejections.loc[parsed.rejections["severity"] == severity]
    return plain(rows[["file", "line", "sku", "field", "value"]])


# --- 1. position and label "not given" --------------------------------------------------------------------


def test_position_not_given_is_na_in_every_format() -> None:
    parsed = parse_batch(
        [
            bulk(
                "b_01.json",
                [
                    {
                        "sku": "J",
                        "images": [
                            {"file_path": "a.jpg"},
                            {"file_path": "b.jpg", "position": None},
                            {"file_path": "c.jpg", "position": 0, "label": None},
                        ],
                    }
                ],
            ),
            jsonl(
                "b_02.jsonl",
                [{"sku": "L", "images": [{"file_path": "d.jpg", "position": 4}, {"file_path": "e.jpg"}]}],
            ),
            gallery("b_03.csv", "G,f.jpg,,,,\nG,g.jpg,Lbl, 7 ,,\n"),
            native("b_04.csv", native_row("N", base="h.jpg", additional="i.jpg,j.jpg", positions=",9")),
        ]
    )
    assert parsed.images["position"].dtype == "Int64"
    assert images(parsed, "sku", "value", "label", "position") == [
        ("J", "/a.jpg", "", None),
        ("J", "/b.jpg", "", None),
        ("J", "/c.jpg", "", 0),
        ("L", "/d.jpg", "", 4),
        ("L", "/e.jpg", "", None),
        ("G", "/f.jpg", "", None),
        ("G", "/g.jpg", "Lbl", 7),
        ("N", "/h.jpg", None, None),
        ("N", "/i.jpg", None, None),
        ("N", "/j.jpg", None, 9),  # native: not given
    ]
    assert parsed.rejections.empty


def test_given_positions_keep_their_validation() -> None:
    parsed = parse_batch(
        [
            bulk(
                "b_01.json",
                [
                    {
                        "sku": "S",
                        "images": [
                            {"file_path": "a.jpg", "position": -100000},
                            {"file_path": "b.jpg", "position": 100000},
                            {"file_path": "c.jpg", "position": 100001},
                            {"file_path": "d.jpg", "position": "1.5"},
                        ],
                    }
                ],
            )
        ]
    )
    assert images(parsed, "value", "position") == [("/a.jpg", -100000), ("/b.jpg", 100000)]
    assert problems(parsed) == [
        ("b_01.json", 1, "S", "position", "100001"),
        ("b_01.json", 1, "S", "position", "1.5"),
    ]


def test_empty_batch_frames_carry_the_contract_dtypes() -> None:
    parsed = parse_batch([gallery("b_01.csv", "")])
    assert tuple(parsed.images.columns) == IMAGE_COLUMNS and parsed.images["position"].dtype == "Int64"
    assert tuple(parsed.store_values.columns) == STORE_VALUE_COLUMNS
    assert parsed.store_values.dtypes[["label", "position", "disabled"]].astype(str).tolist() == [
        "object",
        "Int64",
        "boolean",
    ]
    assert tuple(parsed.role_scope.columns) == ROLE_SCOPE_COLUMNS and parsed.role_scope.empty


# --- 2. store views: JSON / JSONL `stores` maps -------------------------------------------------------------


@pytest.mark.parametrize("make", [bulk, jsonl], ids=["bulk", "jsonl"])
def test_json_stores_map_gives_typed_store_values(make) -> None:  # noqa: ANN001 - a source factory
    name = "b_01.json" if make is bulk else "b_01.jsonl"
    parsed = parse_batch(
        [
            make(
                name,
                [
                    {
                        "sku": "S1",
                        "images": [
                            {
                                "file_path": "a.jpg",
                                "label": "Front",
                                "roles": ["base"],
                                "stores": {
                                    "de": {
                                        "label": "Vorne",
                                        "position": 3,
                                        "disabled": True,
                                        "roles": ["base", "small"],
                                    },
                                    "fr_ch": {"disabled": "no"},
                                    "it": {"label": ""},
                                },
                            },
                            {"file_path": "b.jpg", "stores": {"de": {"roles": "thumbnail|swatch"}, "en": {}}},
                        ],
                    }
                ],
            )
        ]
    )
    assert stores(parsed) == [
        ("S1", "/a.jpg", "de", "Vorne", 3, True, "image|small_image"),
        ("S1", "/a.jpg", "fr_ch", None, None, False, ""),  # only disabled set in that store
        ("S1", "/a.jpg", "it", "", None, None, ""),  # an empty label given is set, not "not set"
        ("S1", "/b.jpg", "de", None, None, None, "thumbnail|swatch_image"),
        ("S1", "/b.jpg", "en", None, None, None, ""),
    ]
    frame = parsed.store_values
    assert frame.dtypes[["label", "position", "disabled"]].astype(str).tolist() == [
        "object",
        "Int64",
        "boolean",
    ]
    assert frame["file"].unique().tolist() == [name] and frame["line"].unique().tolist() == [1]
    assert frame["seq"].tolist() == [0, 0, 0, 1, 1]
    assert frame["label"].iloc[1] is None and frame["position"].iloc[1] is pd.NA  # not set, not NaN/0
    # The store map does not change the default-scope image.
    assert images(parsed, "value", "label", "position", "roles") == [
        ("/a.jpg", "Front", None, "image"),
        ("/b.jpg", "", None, ""),
    ]
    assert parsed.rejections.empty and parsed.stats["store_values"] == 5


@pytest.mark.parametrize(
    ("store_map", "field", "value", "reason"),
    [
        ({"de": {"label": "x" * 256}}, "stores.de.label", "x" * 200, "longer than 255"),
        ({"de": {"label": ["a"]}}, "stores.de.label", '["a"]', "must be a string"),
        ({"de": {"position": 100001}}, "stores.de.position", "100001", "outside"),
        ({"de": {"position": "first"}}, "stores.de.position", "first", "not an integer"),
        ({"de": {"position": True}}, "stores.de.position", "true", "integer"),
        ({"de": {"disabled": "maybe"}}, "stores.de.disabled", "maybe", "not a boolean"),
        ({"de": {"roles": [{"x": 1}]}}, "stores.de.roles", '[{"x": 1}]', "list of strings"),
        ({"de": "Vorne"}, "stores.de", '"Vorne"', "must be an object"),
        ({"admin": {"label": "x"}}, "stores.admin", "admin", "default scope"),
        ({"Admin": {"label": "x"}}, "stores.Admin", "Admin", "default scope"),
        ({"1de": {"label": "x"}}, "stores.1de", "1de", "start with a letter"),
        ({"de-ch": {"label": "x"}}, "stores.de-ch", "de-ch", "letters, digits or '_'"),
        ({"d" * 33: {"label": "x"}}, "stores." + "d" * 33, "d" * 33, "at most 32"),
        ({"default scope": {"label": "x"}}, "stores.default scope", "default scope", "start with a letter"),
    ],
)
def test_store_value_rejections_name_file_line_and_field(
    store_map: dict, field: str, value: str, reason: str
) -> None:
    parsed = parse_batch(
        [
            jsonl(
                "b_01.jsonl",
                [
                    {"sku": "S0", "images": [{"file_path": "z.jpg"}]},
                    {
                        "sku": "S1",
                        "images": [
                            {"file_path": "ok.jpg", "stores": {"fr": {"label": "Bon"}}},
                            {"file_path": "bad.jpg", "stores": store_map},
                        ],
                    },
                ],
            )
        ]
    )
    assert problems(parsed) == [("b_01.jsonl", 2, "S1", field, value)]
    assert reason in parsed.rejections["reason"].iloc[0]
    # The image is rejected as a whole (not written, never purged), like a bad default-scope field.
    assert images(parsed, "sku", "value") == [("S0", "/z.jpg"), ("S1", "/ok.jpg")]
    assert ("S1", "/bad.jpg") in set(parsed.payload_values.itertuples(index=False, name=None))
    assert stores(parsed, "sku", "value", "store", "label") == [("S1", "/ok.jpg", "fr", "Bon")]
    assert parsed.invalid_skus == {"S1"} and parsed.stats["rejected_images"] == 1


def test_stores_that_is_not_an_object_rejects_the_image() -> None:
    parsed = parse_batch(
        [
            bulk(
                "b_01.json",
                [
                    {
                        "sku": "S",
                        "images": [
                            {"file_path": "a.jpg", "stores": ["de"]},
                            {"file_path": "b.jpg", "stores": None},
                        ],
                    }
                ],
            )
        ]
    )
    assert problems(parsed) == [("b_01.json", 1, "S", "stores", '["de"]')]
    assert images(parsed, "value") == [("/b.jpg",)]
    assert parsed.store_values.empty


def test_unknown_store_role_is_a_warning_and_a_rejected_image_drops_its_store_values() -> None:
    parsed = parse_batch(
        [
            bulk(
                "b_01.json",
                [
                    {
                        "sku": "S",
                        "images": [
                            {"file_path": "a.jpg", "stores": {"de": {"roles": ["hero!", "base"]}}},
                            {"file_path": "../x.jpg", "stores": {"de": {"label": "gone"}}},
                        ],
                    }
                ],
            )
        ]
    )
    assert problems(parsed, "warning") == [("b_01.json", 1, "S", "stores.de.roles", "hero!|base")]
    assert problems(parsed) == [("b_01.json", 1, "S", "file_path", "../x.jpg")]
    assert stores(parsed, "value", "store", "label", "roles") == [("/a.jpg", "de", None, "image")]


def test_store_values_follow_the_winning_item_and_the_kept_duplicate_path() -> None:
    parsed = parse_batch(
        [
            bulk(
                "b_01.json",
                [
                    {"sku": "A", "images": [{"file_path": "a.jpg", "stores": {"de": {"label": "old"}}}]},
                    {
                        "sku": "B",
                        "images": [
                            {"file_path": "b.jpg", "stores": {"de": {"label": "first"}}},
                            {"file_path": "b.jpg", "stores": {"fr": {"label": "last"}}},
                        ],
                    },
                ],
            ),
            jsonl("b_02.jsonl", [{"sku": "A", "images": [{"file_path": "a.jpg"}]}]),
        ]
    )
    # A's first item is superseded: its store values go with its images. B lists b.jpg twice: the last is
    # kept.
    assert stores(parsed, "sku", "value", "store", "label") == [("B", "/b.jpg", "fr", "last")]
    assert images(parsed, "sku", "value", "file") == [
        ("B", "/b.jpg", "b_01.json"),
        ("A", "/a.jpg", "b_02.jsonl"),
    ]


# --- 2. store views: native import CSV store_view_code rows -------------------------------------------------


def test_native_store_rows_give_store_level_labels_roles_positions_and_disabled() -> None:
    parsed = parse_batch(
        [
            native(
                "n_01.csv",
                native_row("N1", base="a.jpg", base_label="Front", additional="b.jpg,c.jpg", labels="B,C"),
                native_row(
                    "N1",
                    "de",
                    name="Hemd",
                    base="a.jpg",
                    base_label="Vorne",
                    thumb="b.jpg",
                    thumb_label="Hinten",
                    additional="c.jpg,new.jpg",
                    labels=",Neu",
                    positions="5,6",
                    hide="c.jpg",
                ),
                native_row("N1", "fr", name="Chemise"),  # a store row without images: ignored, counted
            )
        ]
    )
    assert stores(parsed, "sku", "value", "store", "label", "position", "disabled", "roles", "line") == [
        ("N1", "/a.jpg", "de", "Vorne", None, None, "image", 3),
        ("N1", "/b.jpg", "de", "Hinten", None, None, "thumbnail", 3),
        ("N1", "/new.jpg", "de", "Neu", 6, None, "", 3),
        ("N1", "/c.jpg", "de", None, 5, True, "", 3),  # hidden in de only; other stores keep store 0's flag
    ]
    # The default-scope images are the default row's; new.jpg, named only by the de row, joins the gallery
    # at store 0 without label, role or position (Magento's import adds it at the default scope).
    assert images(parsed, "value", "label", "position", "disabled", "roles", "line") == [
        ("/a.jpg", "Front", None, None, "image", 2),
        ("/b.jpg", "B", None, None, "", 2),
        ("/c.jpg", "C", None, None, "", 2),
        ("/new.jpg", None, None, None, "", 3),
    ]
    # Store rows set no default-scope role: only the default row's role columns count.
    assert plain(parsed.role_scope) == [("N1", "image")]
    assert parsed.stats["store_view_rows_ignored"] == 1 and parsed.stats["skus"] == 1
    assert parsed.rejections.empty


def test_native_store_row_in_a_later_chunk_does_not_replace_the_default_image() -> None:
    rows = (
        native_row("N1", base="a.jpg", base_label="Front"),
        native_row("N2", base="x.jpg"),
        native_row("N1", "de", base="a.jpg", base_label="Vorne", additional="z.jpg"),
    )
    parsed = parse_batch([native("n_01.csv", *rows)], chunk_rows=1)
    assert images(parsed, "sku", "value", "label", "roles") == [
        ("N1", "/a.jpg", "Front", "image"),
        ("N2", "/x.jpg", None, "image"),
        ("N1", "/z.jpg", None, ""),
    ]
    assert stores(parsed, "sku", "value", "store", "label", "roles") == [
        ("N1", "/a.jpg", "de", "Vorne", "image"),
        ("N1", "/z.jpg", "de", None, ""),
    ]
    assert parsed.stats["duplicate_paths"] == 0 and parsed.rejections.empty


def test_native_store_row_without_a_default_row_is_an_item_of_its_own() -> None:
    parsed = parse_batch([native("n_01.csv", native_row("N1", "de", base="a.jpg", base_label="Vorne"))])
    assert images(parsed, "sku", "value", "label", "roles", "disabled") == [("N1", "/a.jpg", None, "", None)]
    assert stores(parsed, "value", "store", "label", "roles") == [("/a.jpg", "de", "Vorne", "image")]
    assert plain(parsed.role_scope) == [("N1", "")]  # it sets no default-scope role
    assert parsed.stats["skus"] == 1


def test_native_store_rows_bad_store_code_is_rejected_with_its_line() -> None:
    parsed = parse_batch(
        [
            native(
                "n_01.csv",
                native_row("N1", base="a.jpg"),
                native_row("N1", "admin", base="a.jpg", base_label="x"),
                native_row("N1", "b@d", additional="b.jpg"),
                native_row(
                    "N1", "de", base_label="Vorne"
                ),  # a label without its image column: ignored (as Magento)
            )
        ]
    )
    assert problems(parsed) == [
        ("n_01.csv", 3, "N1", "store_view_code", "admin"),
        ("n_01.csv", 4, "N1", "store_view_code", "b@d"),
    ]
    assert images(parsed, "value") == [("/a.jpg",)]  # b.jpg came only from the rejected row
    assert parsed.store_values.empty
    assert parsed.invalid_skus == {"N1"}
    assert parsed.stats["store_view_rows_ignored"] == 1


def test_native_store_rows_follow_their_item_when_a_later_file_supersedes_it() -> None:
    parsed = parse_batch(
        [
            native(
                "n_01.csv",
                native_row("N1", base="a.jpg"),
                native_row("N1", "de", base="a.jpg", base_label="V"),
                native_row("N2", base="b.jpg"),
                native_row("N2", "de", base="b.jpg", base_label="W"),
            ),
            native("n_02.csv", native_row("N1", base="c.jpg")),
        ]
    )
    assert stores(parsed, "sku", "value", "store", "label") == [("N2", "/b.jpg", "de", "W")]
    assert images(parsed, "sku", "value") == [("N2", "/b.jpg"), ("N1", "/c.jpg")]
    assert problems(parsed, "warning") == [("n_01.csv", 2, "N1", "sku", "N1")]


def test_native_store_rows_of_one_store_merge_last_given_wins() -> None:
    parsed = parse_batch(
        [
            native(
                "n_01.csv",
                native_row("N1", base="a.jpg"),
                native_row("N1", "de", base="a.jpg", base_label="One", additional="a.jpg", positions="4"),
                native_row("N1", "de", small="a.jpg", small_label="Two"),
            )
        ]
    )
    assert stores(parsed, "value", "store", "label", "position", "disabled", "roles", "line") == [
        ("/a.jpg", "de", "Two", 4, None, "image|small_image", 4)
    ]


# --- 3. native CSV = Magento import semantics ---------------------------------------------------------------


def test_native_role_scope_lists_only_the_role_columns_given() -> None:
    parsed = parse_batch(
        [
            native(
                "n_01.csv",
                native_row("N1", base="a.jpg"),
                native_row("N2", small="b.jpg", thumb="b.jpg", swatch="__EMPTY__VALUE__", additional="c.jpg"),
                native_row("N3", base="no_selection", additional="d.jpg,no_selection"),
                native_row("N4", base="e.jpg", small="e.jpg", thumb="e.jpg", swatch="e.jpg"),
            )
        ]
    )
    assert plain(parsed.role_scope) == [
        ("N1", "image"),
        ("N2", "small_image|thumbnail"),
        ("N3", ""),
        ("N4", "image|small_image|thumbnail|swatch_image"),
    ]
    # no_selection and __EMPTY__VALUE__ are no images: Magento's import skips them and leaves the role alone.
    assert images(parsed, "sku", "value", "roles") == [
        ("N1", "/a.jpg", "image"),
        ("N2", "/b.jpg", "small_image|thumbnail"),
        ("N2", "/c.jpg", ""),
        ("N3", "/d.jpg", ""),
        ("N4", "/e.jpg", "image|small_image|thumbnail|swatch_image"),
    ]
    assert parsed.default_mode == "append"


def test_role_scope_comes_from_the_winning_item_only() -> None:
    parsed = parse_batch(
        [
            native("n_01.csv", native_row("A", base="a.jpg"), native_row("B", base="b.jpg")),
            bulk("b_02.json", [{"sku": "A", "images": [{"file_path": "a.jpg", "roles": ["small"]}]}]),
        ]
    )
    # A's winning item is JSON (all four roles managed: absent from role_scope); B stays native.
    assert plain(parsed.role_scope) == [("B", "image")]
    assert parsed.default_mode is None


def test_hide_from_product_page_disables_listed_images_and_adds_unlisted_ones() -> None:
    parsed = parse_batch(
        [
            native(
                "n_01.csv",
                native_row(
                    "N1",
                    base="a.jpg",
                    base_label="Front",
                    additional="b.jpg",
                    labels="B",
                    hide="media/catalog/product/a.jpg,z.jpg,__EMPTY__VALUE__",
                ),
            )
        ]
    )
    assert images(parsed, "value", "label", "position", "disabled", "roles") == [
        ("/a.jpg", "Front", None, True, "image"),
        ("/b.jpg", "B", None, None, ""),
        ("/z.jpg", None, None, True, ""),
    ]
    assert parsed.rejections.empty


def test_hidden_path_that_is_invalid_is_rejected_like_any_image_path() -> None:
    parsed = parse_batch([native("n_01.csv", native_row("N1", base="a.jpg", hide="../etc/passwd"))])
    assert problems(parsed) == [("n_01.csv", 2, "N1", "hide_from_product_page", "../etc/passwd")]
    assert images(parsed, "value", "disabled") == [("/a.jpg", None)]  # not hidden: left as it is


def test_role_labels_go_to_the_image_carrying_the_role() -> None:
    parsed = parse_batch(
        [
            native(
                "n_01.csv",
                native_row(
                    "N1",
                    base="a.jpg",
                    base_label="Base",
                    small="b.jpg",
                    small_label="Small",
                    thumb="b.jpg",
                    thumb_label="Thumb",
                    swatch="c.jpg",
                    swatch_label="Swatch",
                    additional="d.jpg,a.jpg",
                    labels="D,Other",
                ),
            )
        ]
    )
    # First non-empty label in column order: base, small, thumbnail, swatch, additional.
    assert images(parsed, "value", "label", "roles") == [
        ("/a.jpg", "Base", "image"),
        ("/b.jpg", "Small", "small_image|thumbnail"),
        ("/c.jpg", "Swatch", "swatch_image"),
        ("/d.jpg", "D", ""),
    ]


@pytest.mark.parametrize(
    ("files", "mode"),
    [
        (
            lambda: [
                native("n_01.csv", native_row("N", base="a.jpg")),
                native("n_02.csv", native_row("M", base="b.jpg")),
            ],
            "append",
        ),
        (
            lambda: [native("n_01.csv", native_row("N", base="a.jpg")), gallery("g_02.csv", "G,a.jpg,,,,\n")],
            None,
        ),
        (lambda: [native("n_01.csv", native_row("N", base="a.jpg")), jsonl("j_02.jsonl", [])], None),
        (lambda: [gallery("g_01.csv", "G,a.jpg,,,,\n")], None),
        (lambda: [bulk("b_01.json", [{"sku": "S", "images": [{"file_path": "a.jpg"}]}])], None),
        (
            lambda: [
                native("n_01.csv", native_row("N", base="a.jpg")),
                BunchSource.from_bytes("n_02.csv", b""),
            ],
            None,
        ),  # an unreadable bunch of unknown format
        (lambda: [native("n_01.csv")], "append"),  # header only: still a native file
    ],
)
def test_default_mode_is_append_only_when_every_bunch_is_a_native_csv(files, mode: str | None) -> None:
    assert parse_batch(files()).default_mode == mode


# --- 4. query strings ---------------------------------------------------------------------------------------


def test_query_strings_are_dropped_from_relative_paths_in_every_format() -> None:
    parsed = parse_batch(
        [
            bulk(
                "b_01.json",
                [
                    {
                        "sku": "J",
                        "images": [
                            {
                                "file_path": "media/catalog/product/0/1/a.jpg?v=2",
                                "stores": {"de": {"label": "x"}},
                            }
                        ],
                    }
                ],
            ),
            gallery("b_02.csv", "G,/0/1/a.jpg?v=2#x,,,,\n"),
            native("b_03.csv", native_row("N", base="0/1/a.jpg?v=3", hide="/0/1/a.jpg?v=4")),
        ]
    )
    assert images(parsed, "sku", "value", "disabled") == [
        ("J", "/0/1/a.jpg", False),
        ("G", "/0/1/a.jpg", False),
        ("N", "/0/1/a.jpg", True),
    ]
    assert stores(parsed, "sku", "value", "store") == [("J", "/0/1/a.jpg", "de")]
