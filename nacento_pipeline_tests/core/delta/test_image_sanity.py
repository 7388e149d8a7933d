"""File sanity from storage metadata: 0-byte objects and non-image Content-Types are refused, not written."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.compute import compute_delta
from nacento_pipeline.core.delta.image_sanity import not_an_image_reasons
from nacento_pipeline_tests.helpers import etag_frame, gallery_frame, image_frame, product_frame, role_frame

A, B, C, D = "/a/b/a.jpg", "/a/b/b.jpg", "/a/b/c.jpg", "/a/b/d.jpg"


def test_rule_reads_size_and_content_type_only():
    reasons = not_an_image_reasons(
        pd.Series([0, 10, 10, 10, 10, 10, 7]),
        pd.Series(
            [
                "image/jpeg",
                "text/html; charset=utf-8",
                "image/webp",
                "",
                "binary/octet-stream",
                "application/json",
                None,
            ]
        ),
    ).tolist()
    assert reasons == [
        "object is 0 bytes",
        "object's Content-Type text/html; charset=utf-8 is not an image",
        "",
        "",
        "",
        "object's Content-Type application/json is not an image",
        "",
    ]


def test_delta_marks_refused_objects_invalid_keeps_their_rows_and_freezes_roles():
    etags = etag_frame({A: "ea", B: "eb", C: "ec", D: "ed"})
    etags["size"] = [1234, 0, 2048, 2048]
    etags["content_type"] = ["image/jpeg", "image/jpeg", "text/html", ""]
    images = image_frame([("S1", A, "", 1, False, "image"), ("S1", B), ("S1", C), ("S1", D)])
    gallery = gallery_frame([(10, 7, B, 70, "", 1, False, "old-b")])  # B exists: must not be purged
    roles = [(10, r, B) for r in ("image", "small_image", "thumbnail", "swatch_image")]
    d = compute_delta(
        images,
        product_frame({"S1": 10}),
        gallery,
        role_frame(roles),
        etags,
        invalid_skus=set(),
        payload_values=images[["sku", "value"]],
    )
    by_value = d.items.set_index("value")
    assert by_value.loc[A, "action"] == "inserted" and by_value.loc[D, "action"] == "inserted"
    assert by_value.loc[B, "action"] == "invalid" and by_value.loc[B, "reason"] == (
        "not an image: object is 0 bytes: " + B
    )
    assert (
        by_value.loc[C, "action"] == "invalid"
        and "Content-Type text/html is not an image" in by_value.loc[C, "reason"]
    )
    assert "purged" not in set(d.items["action"])
    assert d.roles.empty or not (d.roles["value"] == A).any()  # roles of a SKU with an invalid image stay
