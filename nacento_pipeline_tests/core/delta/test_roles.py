"""core.delta.roles: role names mapped to Magento attribute codes."""

from __future__ import annotations

import numpy as np
import pytest

from nacento_pipeline.core.delta.roles import normalize_role_text, normalize_roles, role_text


@pytest.mark.parametrize(
    ("raw", "codes"),
    [
        (["base"], ["image"]),
        (["image"], ["image"]),
        (["small"], ["small_image"]),
        (["small_image"], ["small_image"]),
        (["thumbnail"], ["thumbnail"]),
        (["swatch"], ["swatch_image"]),
        (["swatch_image"], ["swatch_image"]),
    ],
)
def test_each_alias_maps_to_its_attribute_code(raw: list[str], codes: list[str]) -> None:
    assert normalize_roles(raw) == (codes, [])


def test_lower_cased_trimmed_deduplicated_in_first_seen_order() -> None:
    assert normalize_roles([" Thumbnail ", "BASE", "image", "thumbnail", ""]) == (["thumbnail", "image"], [])


def test_string_split_on_pipe_or_comma() -> None:
    assert normalize_roles("base|small, thumbnail") == (["image", "small_image", "thumbnail"], [])


def test_unknown_roles_are_returned_for_warnings() -> None:
    # attribute-code-like names are roles by code (custom media_image attributes); the rest is unknown
    assert normalize_roles(["base", "Hero", "hero", "hero shot", "2x"]) == (
        ["image", "hero"],
        ["hero shot", "2x"],
    )


def test_none_and_empty() -> None:
    assert normalize_roles(None) == ([], [])
    assert normalize_roles("") == ([], [])
    assert normalize_role_text("base|x y") == ("image", "x y")


def test_role_text_joins_flagged_codes_in_role_order() -> None:
    flags = np.array(
        [
            [False, False, False, False],
            [True, False, True, False],
            [True, True, True, True],
            [False, False, False, True],
        ]
    )
    assert role_text(flags).tolist() == [
        "",
        "image|thumbnail",
        "image|small_image|thumbnail|swatch_image",
        "swatch_image",
    ]
