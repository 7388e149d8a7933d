"""core.blast_radius: the figures and the verdict of a plan, from its delta frames and the galleries now."""

from __future__ import annotations

import pandas as pd

from nacento_pipeline.core.blast_radius import BlastLimits, measure
from nacento_pipeline.core.frames import DELTA_COLUMNS, ROLE_COLUMNS


def items(rows: list[tuple]) -> pd.DataFrame:
    """(sku, entity_id, value_id, action, disabled) rows as a delta items frame."""
    frame = pd.DataFrame(rows, columns=["sku", "entity_id", "value_id", "action", "disabled"])
    for column in DELTA_COLUMNS:
        if column not in frame:
            frame[column] = ""
    return frame


def current(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["entity_id", "value_id", "disabled"])


def roles(rows: list[tuple] = ()) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(ROLE_COLUMNS))


LIMITS = BlastLimits(
    max_removed_share=0.2, max_emptied=1, max_base_changed_share=0.3, max_touched_share=0.0, min_count=1
)


def test_purged_and_disabled_images_count_as_removed_and_an_emptied_gallery_is_named():
    # product 1: both images purged, one new disabled image -> emptied; product 2: one of two disabled
    plan = items(
        [
            ("A", 1, 10, "purged", False),
            ("A", 1, 11, "purged", False),
            ("A", 1, 0, "inserted", True),
            ("B", 2, 20, "updated_meta", True),
            ("B", 2, 21, "skipped_no_change", False),
            ("C", 3, 30, "purged", False),
            ("C", 3, 0, "inserted", False),
        ]
    )
    now = current([(1, 10, 0), (1, 11, 0), (2, 20, 0), (2, 21, 0), (3, 30, 0)])
    radius = measure(
        plan,
        roles(),
        now,
        catalog_products=10,
        catalog_base_images=0,
        limits=BlastLimits(max_emptied=0, max_removed_share=0.2, min_count=1),
    )
    assert radius.figures["images_removed"] == 4  # 3 purged + 1 disabled
    assert radius.figures["images_removed_share"] == 0.8
    assert radius.figures["galleries_emptied"] == 1  # A only: C got a new enabled image
    assert [b.limit for b in radius.breaches] == ["images_removed_share"]  # emptied limit off (0)
    assert radius.breaches[0].products == ("A", "B", "C")


def test_an_emptied_gallery_over_the_limit_and_a_changed_base_image():
    plan = items(
        [("A", 1, 10, "purged", False), ("B", 2, 20, "purged", False), ("B", 2, 0, "inserted", True)]
    )
    now = current([(1, 10, 0), (2, 20, 0), (3, 30, 0)])
    changes = roles(
        [
            ("A", 1, "image", 0, "/a/old.png", "no_selection"),
            ("B", 2, "image", 0, "", "/b/new.png"),
            ("C", 3, "image", 0, "/c/one.png", "/c/two.png"),
            ("C", 3, "image", 1, "/c/x.png", None),
        ]
    )
    radius = measure(plan, changes, now, catalog_products=4, catalog_base_images=3, limits=LIMITS)
    assert radius.figures["galleries_emptied"] == 2
    assert radius.figures["base_images_changed"] == 2  # A and C (B had none: a first base image is no change)
    assert {b.limit for b in radius.breaches} == {
        "images_removed_share",
        "galleries_emptied",
        "base_images_changed_share",
    }
    emptied = next(b for b in radius.breaches if b.limit == "galleries_emptied")
    assert emptied.products == ("A", "B") and emptied.figure == "2 galleries" and emptied.allowed == "1"
    assert "galleries_emptied: 2 galleries (limit 1); first products: A, B" in radius.message()


def test_a_first_sync_and_a_small_batch_stay_within_the_limits():
    first = items([("A", 1, 0, "inserted", False), ("B", 2, 0, "inserted", False)])
    assert measure(
        first,
        roles([("A", 1, "image", 0, "", "/a.png")]),
        current([]),
        catalog_products=2,
        catalog_base_images=0,
        limits=BlastLimits(),
    ).within_limits
    # 2 of a product's 5 images replaced: 40 % removed, but under the minimum count
    small = items(
        [("A", 1, 10, "purged", False), ("A", 1, 11, "purged", False), ("A", 1, 0, "inserted", False)]
    )
    now = current([(1, 10 + n, 0) for n in range(5)])
    radius = measure(small, roles(), now, catalog_products=2, catalog_base_images=1, limits=BlastLimits())
    assert radius.within_limits and radius.figures["images_removed_share"] == 0.4


def test_a_limit_of_zero_is_off():
    plan = items([("A", 1, 10, "purged", False)])
    off = BlastLimits(
        max_removed_share=0, max_emptied=0, max_base_changed_share=0, max_touched_share=0, min_count=1
    )
    assert measure(
        plan, roles(), current([(1, 10, 0)]), catalog_products=1, catalog_base_images=1, limits=off
    ).within_limits
    touched = BlastLimits(
        max_removed_share=0, max_emptied=0, max_base_changed_share=0, max_touched_share=0.5, min_count=1
    )
    radius = measure(
        plan, roles(), current([(1, 10, 0)]), catalog_products=1, catalog_base_images=1, limits=touched
    )
    assert [b.limit for b in radius.breaches] == ["products_touched_share"]
