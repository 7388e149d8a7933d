"""Whether a storage object can be an image, judged from its metadata alone (no byte is downloaded).

An object of 0 bytes is no image; neither is one whose Content-Type names another kind of content
(`text/html` from an error page saved under the image's name, `application/json`, ...). Generic binary
types and an unknown Content-Type (a listing does not report one) say nothing and are accepted.
"""

from __future__ import annotations

import pandas as pd

GENERIC_CONTENT_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})


def not_an_image_reasons(size: pd.Series, content_type: pd.Series) -> pd.Series:
    """Per object, why its metadata says it is not an image ("" when nothing does)."""
    media_type = _media_types(content_type.fillna("").astype(str))
    reasons = pd.Series("", index=size.index, dtype=object)
    wrong_type = ~media_type.str.startswith("image/") & ~media_type.isin(GENERIC_CONTENT_TYPES)
    reasons[wrong_type] = (
        "object's Content-Type " + content_type[wrong_type].astype(str).str.slice(0, 100) + " is not an image"
    )
    sizes = pd.to_numeric(size, errors="coerce").fillna(-1)
    reasons[sizes == 0] = "object is 0 bytes"
    return reasons


def _media_types(content_type: pd.Series) -> pd.Series:
    """The media type of each Content-Type ("image/jpeg; q=1" -> "image/jpeg").

    It is worked out once per distinct value: a batch has a handful of them over many objects.
    """
    distinct = pd.Series(content_type.unique())
    media = distinct.str.split(";", n=1).str[0].str.strip().str.lower()
    return content_type.map(dict(zip(distinct, media, strict=True)))
