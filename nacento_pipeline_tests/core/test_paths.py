"""core.paths: one test per normalisation/rejection rule of the connector, and the vectorised twin."""

from __future__ import annotations

import pandas as pd
import pytest

from nacento_pipeline.core.errors import InvalidPath
from nacento_pipeline.core.paths import (
    REASON_EMPTY,
    REASON_EXTENSION,
    REASON_NO_FILE,
    REASON_NUL,
    REASON_PERCENT,
    REASON_TOO_LONG,
    REASON_TRAVERSAL,
    canonical_of,
    character_reason,
    legacy_variant,
    normalize_file_path,
    normalize_file_paths,
    object_key,
)

VALID = {
    "m/y/my-image.jpg": "/m/y/my-image.jpg",
    "  /m/y/my-image.jpg  ": "/m/y/my-image.jpg",  # trim
    "m\\y\\my-image.jpg": "/m/y/my-image.jpg",  # backslashes
    "//m///y//my-image.jpg": "/m/y/my-image.jpg",  # repeated slashes
    "/m/y/my-image.jpg/": "/m/y/my-image.jpg",  # trailing slash
    "https://cdn.example.com/media/catalog/product/m/y/a.jpg?v=3#top": "/m/y/a.jpg",  # URL
    "http://host/pub/media/catalog/product/m/y/a.jpg": "/m/y/a.jpg",
    "s3://catalog/media/catalog/product/m/y/a.jpg": "/m/y/a.jpg",  # s3 key
    "https://host/m/y/my%2Dimage.jpg": "/m/y/my-image.jpg",  # a URL is %-decoded once
    "pub/media/catalog/product/a/b.jpg": "/a/b.jpg",
    "media/catalog/product/a/b.jpg": "/a/b.jpg",
    "catalog/product/a/b.jpg": "/a/b.jpg",
    "media/a/b.jpg": "/a/b.jpg",
    "a/media/b.jpg": "/a/media/b.jpg",  # only leading prefixes
    "a/b.png?c.jpg": "/a/b.png",  # query dropped from relative paths too
    "media/catalog/product/0/1/a.jpg?v=2": "/0/1/a.jpg",
    "/0/1/a.jpg?v=2#x": "/0/1/a.jpg",
    "0/1/a.jpg#x?y": "/0/1/a.jpg",  # fragment first
    "pub\\media\\catalog\\product\\0\\1\\a.jpg?v=2": "/0/1/a.jpg",
    "a/..b/c.jpg": "/a/..b/c.jpg",  # '..b' is a name, not traversal
    "A/b_c/Photo-1.v2.JPEG": "/A/b_c/Photo-1.v2.JPEG",  # extension in any case
    "x.gif": "/x.gif",
    "x.PNG": "/x.PNG",
}

INVALID = {
    "": REASON_EMPTY,
    "   ": REASON_EMPTY,
    "a" * 1025: REASON_TOO_LONG,
    "a/b\x00.jpg": REASON_NUL,
    "https://h/a%00b.jpg": REASON_NUL,
    "../etc/passwd": REASON_TRAVERSAL,
    "a/./b.jpg": REASON_TRAVERSAL,
    "a/b/..": REASON_TRAVERSAL,
    "a\\..\\b.jpg": REASON_TRAVERSAL,
    "https://h/a/%2e%2e/b.jpg": REASON_TRAVERSAL,
    "/": REASON_NO_FILE,
    "media/catalog/product/": REASON_NO_FILE,
    "https://host/": REASON_NO_FILE,
    "?v=2": REASON_NO_FILE,  # nothing before the query
    "media/catalog/product/#x": REASON_NO_FILE,
    # Only names Magento could hold (issue 20: `;`, `$`, spaces reached a remote shell through ssh)
    "a/b/x;touch${IFS}PWNED;.jpg": character_reason(";"),
    "a/b/my image.jpg": character_reason(" "),
    "a/b/x`id`.jpg": character_reason("`"),
    "a/b/x$(id).jpg": character_reason("$"),
    "a/b/x'.jpg": character_reason("'"),
    'a/b/x"y.jpg': character_reason('"'),
    "a/b/x|y.jpg": character_reason("|"),
    "a/b/x&y.jpg": character_reason("&"),
    "a/b/x\ny.jpg": character_reason("\n"),
    "a/b/x\ry.jpg": character_reason("\r"),
    "a/b/x\ty.jpg": character_reason("\t"),
    "a/b/caf\u00e9.jpg": character_reason("\u00e9"),
    "a/b/cafe\u0301.jpg": character_reason("\u0301"),  # decomposed (NFD) accent: not ASCII
    "a/b/x\u202egpj.php": character_reason("\u202e"),
    "https://h/a/b%3Bc.jpg": character_reason(";"),  # decoded first, then checked
    "a/b/shell.php": REASON_EXTENSION,
    "a/b/.htaccess": REASON_EXTENSION,
    "a/b/image": REASON_EXTENSION,
    "a/b/image.": REASON_EXTENSION,
    "a/b/image.webp": REASON_EXTENSION,
    "a/b/image.jpg.php": REASON_EXTENSION,
    "a/b/image.jpgx": REASON_EXTENSION,
    "a/b?c.jpg": REASON_EXTENSION,  # the query is no part of the name
    # Relative paths are not %-decoded: any '%' is refused; URLs are decoded once, a '%' left is double
    # encoding
    "a/%2e%2e/shell.php": REASON_PERCENT,
    "a/%2E%2E/b.jpg": REASON_PERCENT,
    "a/my%20image.jpg": REASON_PERCENT,
    "https://h/a/%252e%252e/b.jpg": REASON_PERCENT,
    "https://h/a/b%2541.jpg": REASON_PERCENT,
}


@pytest.mark.parametrize(("raw", "expected"), list(VALID.items()))
def test_valid_paths_become_canonical_values(raw: str, expected: str) -> None:
    assert normalize_file_path(raw) == expected


@pytest.mark.parametrize(("raw", "reason"), list(INVALID.items()), ids=lambda v: repr(v)[:30])
def test_invalid_paths_are_rejected_with_their_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        normalize_file_path(raw)
    assert caught.value.reason == reason


def test_exactly_1024_characters_is_allowed() -> None:
    assert normalize_file_path("a" * 1020 + ".jpg") == "/" + "a" * 1020 + ".jpg"


def test_character_reason_names_invisible_characters_by_code_point() -> None:
    assert "' ' (U+0020)" in character_reason(" ")
    assert "'\\n' (U+000A)" in character_reason("\n")
    assert "';'" in character_reason(";")


def test_none_is_missing() -> None:
    with pytest.raises(InvalidPath, match="missing"):
        normalize_file_path(None)


def test_vectorised_twin_gives_the_scalar_answers() -> None:
    raws = list(VALID) + list(INVALID) + ["x.jpg"] * 3
    values, reasons = normalize_file_paths(pd.Series(raws, dtype="str"))
    for raw, value, reason in zip(raws, values, reasons, strict=True):
        try:
            expected_value, expected_reason = normalize_file_path(raw), ""
        except InvalidPath as exc:
            expected_value, expected_reason = "", exc.reason
        assert (value, reason) == (expected_value, expected_reason), repr(raw)


def test_legacy_variant_canonical_of_and_object_key() -> None:
    assert legacy_variant("/m/y/a.jpg") == "m/y/a.jpg"
    assert canonical_of("m/y/a.jpg") == "/m/y/a.jpg"
    assert canonical_of("/m/y/a.jpg") == "/m/y/a.jpg"
    assert canonical_of("//m/y/a.jpg ") == "/m/y/a.jpg"
    assert canonical_of("media/a.jpg") == "/media/a.jpg"  # stored values are not re-interpreted
    assert object_key("/m/y/a.jpg") == "media/catalog/product/m/y/a.jpg"
    assert object_key("m/y/a.jpg", "assets/") == "assets/m/y/a.jpg"
    assert object_key("/a.jpg", "") == "a.jpg"
