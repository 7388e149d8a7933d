"""Media cells of an Akeneo export and where their files go in Magento's media storage.

A media cell holds, with `with_media`, the file's path inside the export folder:
`files/<identifier>/<attribute>[/<locale>][/<channel>]/<original file name>` (a `/` in the identifier
written as `_`); without it, the raw key of the file in Akeneo's catalog storage
(`1/a/2/b/1a2b..._name.jpg`).

An exported file is copied (server side) to a gallery value derived from its content and its name:
`/<d>/<d>/<safe stem>-<content id>.<ext>` in lower case, as Magento's uploader saves a product image, the
content id being the first 16 letters or digits of the file's ETag and the folders Magento's dispersion of
that name. The same content under the same name always lands on
the same value, so it is stored once, a second export copies nothing, and no `_1` suffix is ever needed.
"""

from __future__ import annotations

import re

from nacento_pipeline.core.objects import key_name
from nacento_pipeline.core.paths import dispersion_folders, safe_file_name

EXPORT_MEDIA_FOLDER = "files/"
CONTENT_ID_LENGTH = 16
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


def is_export_path(cell: str) -> bool:
    """True for a `with_media` path (inside the export folder), False for a raw catalog-storage key."""
    return cell.strip().lstrip("/").startswith(EXPORT_MEDIA_FOLDER)


def relative_media_path(cell: str) -> str:
    r"""A media cell as the lookup key of its file: trimmed, no leading slash, `\` as `/`."""
    return cell.strip().replace("\\", "/").lstrip("/")


def content_id(etag: str) -> str:
    """The content part of a placed name: the ETag's first letters and digits (lower-cased)."""
    return _NOT_ALNUM.sub("", etag).lower()[:CONTENT_ID_LENGTH]


def placed_value(etag: str, source_key: str) -> str:
    """The gallery value a media file is copied to, from its ETag and its file name."""
    name = safe_file_name(key_name(source_key), limit=90)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    file_name = (
        f"{stem}-{content_id(etag) or 'x'}" + (f".{ext}" if ext else "")
    ).lower()  # as Magento saves names
    return f"/{dispersion_folders(file_name)}/{file_name}"
