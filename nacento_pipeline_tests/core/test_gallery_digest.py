"""core.gallery_digest: per-SKU digests of a request, equal exactly when what is planned for the SKU is."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.delta.model import DeltaRequest
from nacento_pipeline.core.gallery_digest import DIGEST_LENGTH, planned_digests, unchanged_skus
from nacento_pipeline_tests.helpers import etag_frame, image_frame

ROWS = [
    ("S1", "/a/a.jpg", "front", 1, False, "image"),
    ("S1", "/a/b.jpg", "back", 2),
    ("S2", "/a/c.jpg", "c", 1),
]
ETAGS = {"/a/a.jpg": "e1", "/a/b.jpg": "e2", "/a/c.jpg": "e3"}


def request(rows=ROWS, etags=ETAGS, **kwargs) -> DeltaRequest:
    images = image_frame(rows)
    return DeltaRequest(
        images=images,
        etags=etag_frame(etags),
        invalid_skus=frozenset(kwargs.pop("invalid", ())),
        payload_values=images[["sku", "value"]],
        **kwargs,
    )


def test_same_request_same_digests_whatever_the_order_of_other_skus():
    first = planned_digests(request())
    assert list(first.index) == ["S1", "S2"] and all(len(d) == DIGEST_LENGTH for d in first)
    other_order = planned_digests(request([ROWS[2], ROWS[0], ROWS[1]]))
    assert other_order["S2"] == first["S2"]
    assert unchanged_skus(planned_digests(request()), first) == ["S1", "S2"]


def test_each_planned_fact_changes_the_digest_of_its_sku_only():
    base = planned_digests(request())
    variants = {
        "label": request([ROWS[0], ("S1", "/a/b.jpg", "BACK", 2), ROWS[2]]),
        "position": request([ROWS[0], ("S1", "/a/b.jpg", "back", 3), ROWS[2]]),
        "disabled": request([ROWS[0], ("S1", "/a/b.jpg", "back", 2, True), ROWS[2]]),
        "roles": request([ROWS[0], ("S1", "/a/b.jpg", "back", 2, False, "thumbnail"), ROWS[2]]),
        "payload order": request([ROWS[1], ROWS[0], ROWS[2]]),
        "etag": request(etags={**ETAGS, "/a/b.jpg": "e2-new"}),
        "missing": request(etags={k: v for k, v in ETAGS.items() if k != "/a/b.jpg"}),
    }
    for name, changed in variants.items():
        digests = planned_digests(changed)
        assert digests["S1"] != base["S1"], name
        assert digests["S2"] == base["S2"], name
    assert (planned_digests(request(mode="append")) != base).all()


def test_skus_with_rejected_or_invalid_rows_get_no_digest():
    rejections = pd.DataFrame(
        [
            {
                "severity": "error",
                "file": "f.csv",
                "line": 3,
                "sku": "S2",
                "field": "position",
                "value": "x",
                "reason": "bad",
            }
        ]
    )
    assert list(planned_digests(request(rejections=rejections)).index) == ["S1"]
    assert list(planned_digests(request(invalid={"S1"})).index) == ["S2"]
    assert unchanged_skus(planned_digests(request()), pd.Series([], dtype=object)) == []
