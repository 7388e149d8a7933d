r"""Gallery path rules: turn a PIM `file_path` (path, key or URL) into Magento's canonical gallery value.

The canonical value has exactly one leading slash ("/m/y/my-image.jpg"); the object key is the media prefix
plus the value without its slash. Older tools stored values without the slash: `legacy_variant` and
`canonical_of` let readers recognise both as the same image.

A value must also be a name Magento itself could hold: only the characters its uploader keeps in file names
(`Magento\Framework\File\Uploader::getCorrectFileName` replaces every other one: ASCII letters, digits,
`_`, `-`, `.`), `/` between segments, and an extension Magento accepts for product images
(`Magento\Catalog\Model\Product\Gallery\Processor::addImage` and the admin gallery upload controller:
jpg, jpeg, gif, png, in any case). Such a value holds nothing a shell, a URL or a remote command line would
interpret.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import pandas as pd

from nacento_pipeline.core.errors import InvalidPath

MAX_PATH_LENGTH = 1024
# catalog_product_entity_media_gallery.value is varchar(255): a longer canonical value cannot be stored.
MAX_GALLERY_VALUE_LENGTH = 255
MEDIA_PREFIX = "media/catalog/product/"
# Dropped from the front of a path, each at most once and in this order ("pub/media/catalog/product/x").
DROPPED_PREFIXES = ("pub/media/", "media/", "catalog/product/")


def parent_prefix(key: str) -> str:
    """The key's "directory": everything up to and including the last '/' ("" for top-level keys)."""
    return key[: key.rfind("/") + 1]


REASON_EMPTY = "file_path is missing or empty"
REASON_TOO_LONG = f"file_path is longer than {MAX_PATH_LENGTH} characters"
REASON_NUL = "file_path contains a NUL byte"
REASON_TRAVERSAL = "file_path contains a '.' or '..' segment (path traversal)"
REASON_NO_FILE = "file_path names no file once media prefixes are removed"
# Magento\Catalog\Model\Product\Gallery\Processor::addImage (and Controller\Adminhtml\Product\Gallery\Upload).
IMAGE_EXTENSIONS = ("jpg", "jpeg", "gif", "png")
REASON_PERCENT = (
    "file_path contains '%': percent-encoding is decoded once in URLs only, never in relative paths; "
    "give the plain file name"
)
REASON_CHARACTER = (
    "file_path contains {char}: a gallery value may hold only ASCII letters, digits, '_', '-', '.' "
    "and '/' between segments (the names Magento's uploader keeps)"
)
REASON_EXTENSION = (
    "file_path does not end in an image extension Magento accepts for product images "
    f"(.{', .'.join(IMAGE_EXTENSIONS)})"
)
REASON_VALUE_TOO_LONG = (
    f"gallery value is longer than {MAX_GALLERY_VALUE_LENGTH} characters "
    "(Magento's media_gallery.value column)"
)

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_SCHEME_PATTERN = r"^[A-Za-z][A-Za-z0-9+.\-]*://"
_SLASHES = re.compile(r"/{2,}")
_TRAVERSAL = re.compile(r"(?:^|/)\.{1,2}(?:/|$)")
_TRAVERSAL_PATTERN = r"(?:^|/)\.{1,2}(?:/|$)"
# A query string or fragment of a relative path ("a.jpg?v=2", "a.jpg#x"), as a URL's are dropped.
_QUERY = re.compile(r"[?#].*", re.DOTALL)
_QUERY_PATTERN = r"[?#].*"
# The characters of a file name Magento's uploader keeps (Uploader::getCorrectFileName): the one rule.
NAME_CHARACTERS = r"A-Za-z0-9_.\-"
_OTHER_CHARACTER_PATTERN = rf"([^{NAME_CHARACTERS}/])"
_OTHER_CHARACTER = re.compile(_OTHER_CHARACTER_PATTERN)
_EXTENSION_PATTERN = r"\.(?:" + "|".join(IMAGE_EXTENSIONS) + r")\Z"
_EXTENSION = re.compile(_EXTENSION_PATTERN, re.IGNORECASE)


def character_reason(char: str) -> str:
    r"""The refusal of a value holding `char`, naming it readably ('%', ' ' (U+0020), '\n' (U+000A))."""
    shown = repr(char) if char.isprintable() and not char.isspace() else f"{char!r} (U+{ord(char):04X})"
    return REASON_CHARACTER.format(char=shown)


def _url_path(text: str) -> str:
    """The path of a URL or `s3://bucket/key`: scheme, host/bucket, query and fragment dropped, %-decoded."""
    return unquote(urlsplit(text).path)


def _drop_prefixes(text: str) -> str:
    for prefix in DROPPED_PREFIXES:
        if (text + "/").startswith(prefix):
            text = text[len(prefix) :]
    return text


def normalize_file_path(raw: object) -> str:
    r"""The canonical gallery value ("/m/y/my-image.jpg") of a payload `file_path`, or raise InvalidPath.

    Rules: trim; reject empty, longer than 1024 characters, NUL byte; a URL (`https://host/...`,
    `s3://bucket/...`) keeps only its %-decoded path; a relative path loses everything from its first `?` or
    `#` (query and fragment are dropped from both: a cache-busting `?v=2` is no part of the file name);
    `\` becomes `/`, repeated slashes collapse, leading/trailing slashes go; leading `pub/media/`, `media/`,
    `catalog/product/` are dropped in that order; a `.` or `..` segment is rejected. What remains must be a
    Magento file name (module docstring): a `%` left (a relative path's encoding, or a URL's double encoding),
    any other character outside letters, digits, `_-./`, or no image extension is rejected.
    """
    if raw is None:
        raise InvalidPath(REASON_EMPTY, "")
    original = str(raw)
    text = original.strip()
    if not text:
        raise InvalidPath(REASON_EMPTY, original)
    if len(text) > MAX_PATH_LENGTH:
        raise InvalidPath(REASON_TOO_LONG, original)
    if "\x00" in text:
        raise InvalidPath(REASON_NUL, original)
    text = text.replace("\\", "/")
    if _SCHEME.match(text):
        text = _url_path(text)
        if "\x00" in text:
            raise InvalidPath(REASON_NUL, original)
        text = text.replace("\\", "/")
    else:
        text = _QUERY.sub("", text)
    text = _SLASHES.sub("/", text).strip("/")
    if _TRAVERSAL.search(text):
        raise InvalidPath(REASON_TRAVERSAL, original)
    text = _drop_prefixes(text)
    if not text:
        raise InvalidPath(REASON_NO_FILE, original)
    if "%" in text:
        raise InvalidPath(REASON_PERCENT, original)
    if other := _OTHER_CHARACTER.search(text):
        raise InvalidPath(character_reason(other.group(1)), original)
    if not _EXTENSION.search(text):
        raise InvalidPath(REASON_EXTENSION, original)
    return "/" + text


def normalize_file_paths(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorised `normalize_file_path` over a string Series: (values, reasons), "" where not applicable.

    Gives exactly the scalar function's answers (the tests compare both); URL rows, usually few, go through
    the scalar URL helper.
    """
    text = raw.fillna("").astype("str").str.strip()
    reasons = pd.Series("", index=raw.index, dtype="str")

    def reject(mask: pd.Series, reason: str) -> None:
        hit = mask & (reasons == "")
        if hit.any():
            reasons[hit] = reason

    reject(text == "", REASON_EMPTY)
    reject(text.str.len() > MAX_PATH_LENGTH, REASON_TOO_LONG)
    reject(text.str.contains("\x00", regex=False), REASON_NUL)
    text = text.str.replace("\\", "/", regex=False)
    is_url = text.str.match(_SCHEME_PATTERN) & (reasons == "")
    if is_url.any():
        decoded = text[is_url].map(_url_path).astype("str")
        reject(decoded.str.contains("\x00", regex=False).reindex(raw.index, fill_value=False), REASON_NUL)
        text[is_url] = decoded.str.replace("\\", "/", regex=False)
    relative = ~is_url & text.str.contains(r"[?#]", regex=True)
    if relative.any():
        text[relative] = text[relative].str.replace(_QUERY_PATTERN, "", regex=True)
    text = text.str.replace(r"/{2,}", "/", regex=True).str.strip("/")
    reject(text.str.contains(_TRAVERSAL_PATTERN, regex=True), REASON_TRAVERSAL)
    for prefix in DROPPED_PREFIXES:
        starts = (text + "/").str.startswith(prefix)
        if starts.any():
            text[starts] = text[starts].str.slice(len(prefix))
    reject(text == "", REASON_NO_FILE)
    reject(text.str.contains("%", regex=False), REASON_PERCENT)
    other = text.str.extract(_OTHER_CHARACTER_PATTERN, expand=False)
    hit = other.notna() & (reasons == "")
    if hit.any():
        reasons[hit] = other[hit].map(character_reason)
    reject(~text.str.contains(_EXTENSION_PATTERN, case=False, regex=True), REASON_EXTENSION)
    values = ("/" + text).where(reasons == "", "")
    return values.astype("str"), reasons


def legacy_variant(value: str) -> str:
    """The same gallery value as older tools stored it: without the leading slash ("m/y/my-image.jpg")."""
    return value.lstrip("/")


def canonical_of(stored_value: str) -> str:
    """The canonical form of a value read from Magento: surrounding blanks trimmed, exactly one leading slash.

    Only the slash is repaired: a stored value is an existing file reference, so media prefixes are not
    stripped from it (that is for payload input only).
    """
    return "/" + stored_value.strip().lstrip("/")


def canonical_values(values: pd.Series) -> pd.Series:
    """`canonical_of` over a column of stored values (missing values count as empty)."""
    text = values.astype(object).where(values.notna(), "").astype(str)
    return ("/" + text.str.strip().str.lstrip("/")).astype(str)


def object_key(value: str, media_prefix: str = MEDIA_PREFIX) -> str:
    """The object key of a gallery value: `media/catalog/product/m/y/my-image.jpg`."""
    prefix = media_prefix.strip("/")
    tail = value.lstrip("/")
    return f"{prefix}/{tail}" if prefix else tail


# --- Hardened names: what a gallery value the pipeline creates may hold ------------------------------------
# Letters, digits, `_`, `-` and `.` in each segment, `/` between segments only (as Magento's uploader leaves
# a file name: Uploader::getCorrectFileName replaces everything else by `_`).
_UNSAFE_RUN = re.compile(rf"[^{NAME_CHARACTERS}]+")
MAX_SAFE_NAME_LENGTH = 120


def safe_file_name(name: str, limit: int = MAX_SAFE_NAME_LENGTH) -> str:
    """A file name of letters, digits, `_`, `-` and `.` only.

    Every other run of characters becomes `_`, leading dots go (no hidden or `..` names), the stem is cut so
    the name fits `limit` (its extension kept).
    """
    cleaned = _UNSAFE_RUN.sub("_", name.strip()).lstrip(".") or "file"
    stem, dot, ext = cleaned.rpartition(".")
    if not dot or not stem:
        stem, ext = cleaned, ""
    ext = ext[:16]
    room = max(1, limit - (len(ext) + 1 if ext else 0))
    stem = stem[:room].rstrip(".") or "file"
    return f"{stem}.{ext}" if ext else stem


def harden_gallery_value(value: str) -> str:
    """`value` with every segment made a safe file name (`/` only between segments, one leading slash)."""
    segments = [segment for segment in value.replace("\\", "/").split("/") if segment.strip()]
    return "/" + "/".join(safe_file_name(segment) for segment in segments) if segments else "/file"


def is_hardened_value(value: str) -> bool:
    """True when a canonical gallery value passes the gallery value rules unchanged (`/a/b/name.jpg`)."""
    try:
        return normalize_file_path(value) == value
    except InvalidPath:
        return False


def dispersion_folders(file_name: str) -> str:
    r"""Magento's dispersion folders of a file name (`my.jpg` -> `m/y`, `.x` -> `_/x`).

    Its first two characters, a `.` written `_` (Framework\File\Uploader::getDispersionPath; the uploader
    lower-cases names first).
    """
    return "/".join("_" if c == "." else c for c in file_name[:2])
