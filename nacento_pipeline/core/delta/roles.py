"""Role names: map the payload's role names to Magento's image attribute codes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from nacento_pipeline.core.frames import ROLE_CODES

# Payload role name (lower-cased, trimmed) -> Magento attribute code.
ROLE_ALIASES = {
    "base": "image",
    "image": "image",
    "small": "small_image",
    "small_image": "small_image",
    "thumbnail": "thumbnail",
    "swatch": "swatch_image",
    "swatch_image": "swatch_image",
}
# The roles whose store-level values make Magento refuse an image's removal: the attribute codes
# `Catalog\Model\ResourceModel\Product\Gallery::getProductImages` reads (swatch_image is not among them).
DELETE_GUARDED_ROLES = ("image", "small_image", "thumbnail")
ROLE_SEPARATOR = "|"  # how roles are joined in frames (frames.IMAGE_COLUMNS "roles")

_SPLIT = re.compile(r"[|,]")
# A name that can be an attribute code (Magento's own rule for codes): accepted as a role by code, checked
# against the shop's media_image attributes when the delta is computed.
_ATTRIBUTE_CODE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")


def ordered_roles(codes: Iterable[str]) -> list[str]:
    """Role codes in one stable order: the four standard roles (ROLE_CODES order), then the others sorted."""
    present = set(codes)
    return [c for c in ROLE_CODES if c in present] + sorted(present - set(ROLE_CODES))


def _names(raw: object) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return _SPLIT.split(raw)
    if isinstance(raw, Iterable):
        names: list[str] = []
        for item in raw:
            names.extend(_SPLIT.split(str(item)) if item is not None else [])
        return names
    return [str(raw)]


def normalize_roles(raw: object) -> tuple[list[str], list[str]]:
    """(attribute codes in first-seen order, unknown role names) of a role list or a `|`/`,` string.

    Names are trimmed, lower-cased and de-duplicated; empty names are ignored. A name that is no alias but can
    be an attribute code is taken as one (a custom media_image attribute; the delta checks it against the
    shop's); other names are returned (de-duplicated) so that the caller can warn about them.
    """
    codes: list[str] = []
    unknown: list[str] = []
    for name in _names(raw):
        key = name.strip().lower()
        if not key:
            continue
        code = ROLE_ALIASES.get(key) or (key if _ATTRIBUTE_CODE.match(key) else None)
        if code is None:
            if key not in unknown:
                unknown.append(key)
        elif code not in codes:
            codes.append(code)
    return codes, unknown


@lru_cache(maxsize=4096)
def normalize_role_text(raw: str) -> tuple[str, str]:
    """`normalize_roles` of a cell, joined with "|": (codes, unknown). Cached: cells repeat a lot."""
    codes, unknown = normalize_roles(raw)
    return ROLE_SEPARATOR.join(codes), ROLE_SEPARATOR.join(unknown)


def role_text(flags: np.ndarray) -> np.ndarray:
    """Codes "|"-joined in ROLE_CODES order, per row of a boolean matrix (a column per ROLE_CODES entry)."""
    table = np.array(
        [
            ROLE_SEPARATOR.join(code for k, code in enumerate(ROLE_CODES) if bits >> k & 1)
            for bits in range(1 << len(ROLE_CODES))
        ],
        dtype=object,
    )
    return table[flags.astype("int64") @ (1 << np.arange(len(ROLE_CODES)))]
