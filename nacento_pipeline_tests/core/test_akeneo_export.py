"""Akeneo product exports read as batches: CSV and XLSX, locales and channels, media cells, refusals."""

import pytest

from nacento_pipeline.core.akeneo.columns import Scope, read_header
from nacento_pipeline.core.akeneo.export import (
    AkeneoBatch,
    collect_models,
    export_reader,
    media_cells,
    sniff_export,
)
from nacento_pipeline.core.akeneo.mapping import AkeneoMapping
from nacento_pipeline.core.akeneo.media import placed_value
from nacento_pipeline.core.batch.parse import parse_batch
from nacento_pipeline.core.batch.source import BunchSource
from nacento_pipeline.core.errors import BatchFileError
from nacento_pipeline.core.paths import harden_gallery_value, is_hardened_value, safe_file_name
from nacento_pipeline.storage.drop.akeneo_sample import (
    HEADER,
    export_csv,
    export_rows,
    export_xlsx,
    sample_export,
)

SKUS = ("NAC-1001", "NAC-1002", "NAC/1003")
LOCALES = {"en_US": ("default",), "de_DE": ("de", "de_ch")}


def _values(files: dict[str, bytes]) -> dict[str, str]:
    """The gallery value of every exported file, as registration would have placed it (fake ETags)."""
    return {
        path: placed_value(f"{abs(hash(path)):032x}", path) for path in files if path.startswith("files/")
    }


def _parse(files: dict[str, bytes], mapping: AkeneoMapping, values: dict[str, str] | None = None, **kw):
    sources = [
        BunchSource.from_bytes(name, data) for name, data in files.items() if not name.startswith("files/")
    ]
    batch = AkeneoBatch(mapping, _values(files) if values is None else values, **kw)
    if mapping.model_images == "variants":
        collect_models(sources, batch)
    return parse_batch(sources, read=export_reader(batch))


@pytest.mark.parametrize("xlsx", [False, True], ids=["csv", "xlsx"])
def test_a_real_shaped_export_gives_galleries_roles_and_store_view_values(xlsx):
    files = sample_export(SKUS, xlsx=xlsx)
    values = _values(files)
    mapping = AkeneoMapping(locale_stores=LOCALES, roles={"image": "picture", "swatch_image": "image"})
    parsed = _parse(files, mapping, values)

    assert parsed.rejections.empty
    assert parsed.stats["skus"] == 3
    first = parsed.images[parsed.images["sku"] == "NAC-1001"]
    front = values["files/NAC-1001/picture/nac-1001-front.png"]
    detail = values["files/NAC-1001/image/en_US/ecommerce/nac-1001-detail.png"]
    detail_de = values["files/NAC-1001/image/de_DE/ecommerce/nac-1001-detail-de.png"]
    assert first["value"].tolist() == [front, detail, detail_de]
    assert first["position"].tolist() == [1, 2, 3]
    assert first["disabled"].tolist() == [False, False, True]
    assert first["roles"].tolist() == ["image", "swatch_image", ""]
    assert first["label"].tolist() == ["NAC-1001 shoe"] * 3
    # the identifier's `/` is a `_` in the media folder, the SKU keeps it
    assert "NAC/1003" in set(parsed.images["sku"])
    assert values["files/NAC_1003/picture/nac_1003-front.png"] in set(parsed.images["value"])

    stores = parsed.store_values[parsed.store_values["sku"] == "NAC-1001"]
    german = stores[stores["store"] == "de"].set_index("value")
    assert set(stores["store"]) == {"de", "de_ch"}  # en_US shows the default values: no override
    assert german.loc[front, "label"] == "NAC-1001 Schuh"
    assert bool(german.loc[detail_de, "disabled"]) is False and bool(german.loc[detail, "disabled"]) is True
    assert german.loc[detail_de, "roles"] == "swatch_image"


def test_xlsx_split_into_several_files_is_one_batch_in_natural_order():
    files = sample_export(tuple(f"S-{n}" for n in range(5)), xlsx=True, lines_per_file=2)
    assert [n for n in files if n.endswith(".xlsx")] == ["export_1.xlsx", "export_2.xlsx", "export_3.xlsx"]
    parsed = _parse(files, AkeneoMapping())
    assert parsed.stats["files"] == 3 and parsed.stats["skus"] == 5
    assert parsed.images.groupby("file")["sku"].nunique().to_dict() == {
        "export_1.xlsx": 2,
        "export_2.xlsx": 2,
        "export_3.xlsx": 1,
    }
    assert parsed.images.loc[parsed.images["sku"] == "S-2", "line"].tolist() == [2, 2]  # row 2 of export_2


def test_a_channel_picks_the_scopable_values_and_a_locale_falls_back_to_the_attribute():
    mapping = AkeneoMapping(default_channel="print", channel_websites={"print": "base"})
    files = sample_export(("A",))
    values = _values(files)
    parsed = _parse(files, mapping, values)
    assert parsed.images["value"].tolist() == [
        values["files/A/picture/a-front.png"],
        values["files/A/image/en_US/print/a-print.png"],
    ]


def test_a_configured_attribute_the_export_lacks_refuses_the_file_naming_setting_and_line():
    files = sample_export(("A",))
    parsed = _parse(files, AkeneoMapping(gallery_attributes=("picture", "packshot")))
    [error] = parsed.file_errors.to_dict("records")
    assert error["file"] == "export.csv" and error["line"] == 1
    assert "NACENTO_AKENEO_GALLERY_ATTRIBUTES" in error["reason"] and "`packshot`" in error["reason"]
    assert parsed.images.empty

    for mapping, setting in (
        (AkeneoMapping(label_attributes={"*": "alt_text"}), "NACENTO_AKENEO_LABEL_ATTRIBUTE"),
        (AkeneoMapping(roles={"image": "packshot"}), "NACENTO_AKENEO_ROLES"),
        (AkeneoMapping(identifier="ean"), "NACENTO_AKENEO_IDENTIFIER"),
    ):
        [error] = _parse(files, mapping).file_errors.to_dict("records")
        assert setting in error["reason"], error


def test_defaults_use_what_a_standard_catalog_has_and_name_the_setting_when_nothing_fits():
    rows, media = export_rows(("A",))
    header = tuple("visual" if c == "picture" else c for c in HEADER)
    files = {"export.csv": export_csv(rows, header), **media}
    parsed = _parse(files, AkeneoMapping())  # `picture` absent, `image` present: the default takes `image`
    assert parsed.file_errors.empty and len(parsed.images) == 1
    assert parsed.images["roles"].tolist() == ["image|small_image|thumbnail"]
    no_gallery = tuple("visual" if c.startswith(("picture", "image")) else c for c in HEADER)
    header_only = {"export.csv": export_csv([], tuple(dict.fromkeys(no_gallery)))}
    [error] = _parse(header_only, AkeneoMapping()).file_errors.to_dict("records")
    assert "set NACENTO_AKENEO_GALLERY_ATTRIBUTES" in error["reason"]


def test_translated_headers_and_labelled_values_are_refused_with_the_reason():
    rows, _ = export_rows(("A",))
    labels = (
        "SKU",
        "Categories",
        "Enabled",
        "Family",
        "Groups",
        "Parent",
        "Name (German (Germany))",
        "Name (English (United States))",
        "Picture",
        "Image (German (Germany), Ecommerce)",
        "Image (English (United States), Ecommerce)",
        "Image (English (United States), Print)",
    )
    for data, name in ((export_csv(rows, labels), "export.csv"), (export_xlsx(rows, labels), "export.xlsx")):
        [error] = _parse({name: data}, AkeneoMapping()).file_errors.to_dict("records")
        assert error["line"] == 1 and "header_with_label" in error["reason"], error
        assert sniff_export(name, data, len(data)) == f"{name}:1: {error['reason']}"

    labelled = [[*row[:2], "Yes", *row[3:]] for row in rows]
    [error] = _parse({"export.csv": export_csv(labelled)}, AkeneoMapping()).file_errors.to_dict("records")
    assert error["line"] == 2 and "with_label" in error["reason"] and "enabled" in error["reason"]


def test_a_media_cell_without_its_file_rejects_that_image_naming_file_line_and_column():
    files = sample_export(("A", "B"))
    values = _values(files)
    del values["files/B/picture/b-front.png"]
    parsed = _parse(files, AkeneoMapping(), values)
    [error] = parsed.rejections.to_dict("records")
    assert (error["file"], error["line"], error["sku"], error["field"]) == ("export.csv", 3, "B", "picture")
    assert "is not in the export folder" in error["reason"]
    assert set(parsed.images["sku"]) == {"A", "B"}  # B's other image stays, its roles are not touched
    assert parsed.invalid_skus == frozenset({"B"})


def test_raw_storage_keys_resolve_through_the_catalog_copies_or_name_the_setting():
    csv = b"sku;enabled;picture\nA;1;8/b/5/c/8b5c_front.jpg\nB;1;\n"
    cells = media_cells([BunchSource.from_bytes("export.csv", csv)], AkeneoMapping())
    assert cells == ["8/b/5/c/8b5c_front.jpg"]
    placed = {cells[0]: placed_value("abc123", cells[0])}
    parsed = _parse({"export.csv": csv}, AkeneoMapping(), placed, catalog_prefix_set=True)
    assert parsed.images["value"].tolist() == [placed[cells[0]]]
    assert parsed.stats["store_view_rows_ignored"] == 1  # B has no image: skipped, its gallery untouched
    [error] = _parse({"export.csv": csv}, AkeneoMapping(), {}).rejections.to_dict("records")
    assert "NACENTO_AKENEO_CATALOG_PREFIX" in error["reason"] and error["field"] == "picture"


def test_product_models_are_their_own_items_unless_applied_to_variants():
    models = b"code;parent;family_variant;picture\nMODEL-1;;fv;files/MODEL-1/picture/m.jpg\n"
    products = (
        b"sku;enabled;parent;picture;image\n"
        b"V-1;1;MODEL-1;;files/V-1/image/v.jpg\n"
        b"V-2;1;;;files/V-2/image/w.jpg\n"
    )
    paths = ["files/MODEL-1/picture/m.jpg", "files/V-1/image/v.jpg", "files/V-2/image/w.jpg"]
    values = {p: placed_value("e" * 32, p) for p in paths}
    files = {"models.csv": models, "products.csv": products}
    own = _parse(files, AkeneoMapping(), values)
    assert own.images.groupby("sku")["value"].apply(list).to_dict() == {
        "MODEL-1": [values[paths[0]]],
        "V-1": [values[paths[1]]],
        "V-2": [values[paths[2]]],
    }
    inherited = _parse(files, AkeneoMapping(model_images="variants"), values)
    assert inherited.images.loc[inherited.images["sku"] == "V-1", "value"].tolist() == [
        values[paths[0]],
        values[paths[1]],
    ]
    assert inherited.images.loc[inherited.images["sku"] == "V-2", "value"].tolist() == [values[paths[2]]]


def test_header_columns_read_locale_and_channel():
    header = read_header(
        ["sku", "picture", "image-en_US", "image-ecommerce", "image-de_DE-print", "price-EUR"], "x.csv"
    )
    assert header.value_columns("image") == {
        Scope("en_us", ""): "image-en_us",
        Scope("", "ecommerce"): "image-ecommerce",
        Scope("de_de", "print"): "image-de_de-print",
    }
    assert header.value_columns("picture") == {Scope(): "picture"}
    with pytest.raises(BatchFileError, match="header_with_label"):
        read_header(["SKU", "Enabled", "Bild"], "x.csv")  # one-word labels: told by the fixed columns' case


def test_placed_values_are_hardened_content_named_and_dispersed():
    value = placed_value('"9f86d081884c7d659a2feaa0c55ad015"', "files/A 1/picture/Été photo (1).JPG")
    assert value == "/_/t/_t_photo_1_-9f86d081884c7d65.jpg"  # Magento's dispersion of the final name
    assert is_hardened_value(value)
    assert placed_value("9f86d081884c7d659a2feaa0c55ad015-3", "x/front.png").startswith(
        "/f/r/front-9f86d081884c7d65"
    )
    assert placed_value("e1", "a/b.png") == placed_value("e1", "c/b.png")  # same content, same name: one file
    assert placed_value("e1", "a/b.png") != placed_value("e2", "a/b.png")
    assert safe_file_name("../.hidden name.png") == "_.hidden_name.png"  # never a leading dot
    assert len(safe_file_name("x" * 200 + ".jpg")) == 120 and safe_file_name("x" * 200 + ".jpg").endswith(
        ".jpg"
    )
    assert harden_gallery_value("/a b/ç/x?.jpg") == "/a_b/_/x_.jpg"
    assert not is_hardened_value("/a/../b.jpg") and not is_hardened_value("/a b.jpg")
    assert len(placed_value("e1", "x/" + "n" * 400 + ".jpeg")) < 255


def test_every_format_rejects_a_gallery_value_outside_the_names_magento_holds():
    """The Akeneo names and every other format's values follow one rule (core.paths): a space is refused."""
    csv = b"sku,file_path,label\nA,/m/y/my image.jpg,x\nA,/m/y/ok-name_1.jpg,y\n"
    parsed = parse_batch([BunchSource.from_bytes("import-media_x_01.csv", csv)])
    assert parsed.images["value"].tolist() == ["/m/y/ok-name_1.jpg"]
    [refusal] = parsed.rejections.to_dict("records")
    assert (refusal["severity"], refusal["line"], refusal["field"]) == ("error", 2, "file_path")
    assert "letters, digits" in refusal["reason"] and is_hardened_value("/m/y/ok-name_1.jpg")
