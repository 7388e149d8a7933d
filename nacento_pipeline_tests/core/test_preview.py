"""core.preview: the first products' changes before -> after, and the changes per kind charted."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.frames import DELTA_COLUMNS, ROLE_COLUMNS
from nacento_pipeline.core.preview import bar_chart, preview


def items(rows: list[tuple]) -> pd.DataFrame:
    """(sku, entity_id, value_id, value, action, label, position, disabled) rows as delta items."""
    frame = pd.DataFrame(
        rows, columns=["sku", "entity_id", "value_id", "value", "action", "label", "position", "disabled"]
    )
    for column in DELTA_COLUMNS:
        if column not in frame:
            frame[column] = ""
    return frame


def test_images_and_roles_before_and_after_for_the_first_products():
    plan = items(
        [
            ("B", 2, 20, "/b/old.png", "purged", "old", 1, False),
            ("B", 2, 0, "/b/new.png", "inserted", "new", 1, False),
            ("A", 1, 10, "/a/one.png", "updated_meta", "relabelled", 2, True),
            ("A", 1, 11, "/a/two.png", "skipped_no_change", "", 1, False),
            ("C", 3, 30, "/c/one.png", "inserted", "", 1, False),
        ]
    )
    current = pd.DataFrame(
        [
            (1, 10, "/a/one.png", "one", 1, 0),
            (1, 11, "/a/two.png", None, 2, 0),
            (2, 20, "/b/old.png", "old", 1, 0),
        ],
        columns=["entity_id", "value_id", "value", "label", "position", "disabled"],
    )
    roles = pd.DataFrame(
        [("B", 2, "image", 0, "/b/old.png", "/b/new.png"), ("B", 2, "image", 1, "/b/old.png", None)],
        columns=list(ROLE_COLUMNS),
    )
    shown = preview(plan, roles, current, limit=2)
    assert shown.images.to_dict("records") == [
        {
            "sku": "A",
            "image": "/a/one.png",
            "change": "updated (label/position/roles)",
            "before": "pos 1, 'one'",
            "after": "pos 2, 'relabelled', disabled",
        },
        {"sku": "B", "image": "/b/new.png", "change": "added", "before": "-", "after": "pos 1, 'new'"},
        {
            "sku": "B",
            "image": "/b/old.png",
            "change": "purged (not in the batch)",
            "before": "pos 1, 'old'",
            "after": "-",
        },
    ]  # C is past the first 2 products
    assert shown.roles[["role", "store_id", "before", "after"]].values.tolist() == [
        ["image", 0, "/b/old.png", "/b/new.png"],
        ["image", 1, "/b/old.png", "(deleted)"],
    ]
    assert shown.counts == {
        "added": 2,
        "updated (label/position/roles)": 1,
        "purged (not in the batch)": 1,
        "role values changed": 2,
    }


def test_bar_chart_scales_to_the_largest_count():
    chart = bar_chart({"added": 30, "purged": 3, "none": 0}, width=10)
    lines = chart.splitlines()
    assert lines[2] == "| added | 30 | " + "\u2588" * 10 + " |"
    assert lines[3] == "| purged | 3 | \u2588 |"
    assert lines[4] == "| none | 0 |  |"
    assert bar_chart({}) == "_no change_"
