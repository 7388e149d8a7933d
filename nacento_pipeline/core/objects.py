"""What a bucket listing says about one object: plain data shared by the drop convention and the stores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ObjectInfo:
    """One object as a listing or HEAD reports it. `etag` never carries quotes."""

    key: str
    etag: str
    size: int
    last_modified: datetime | None = None
    content_type: str = ""  # HEAD reports it, a listing does not ("")


def strip_etag(raw: str | None) -> str:
    """An ETag as it is compared and stored: without blanks, a weak `W/` prefix or quotes.

    S3 returns `"abc"`, some servers `W/"abc"`; multipart ETags ("...-N") stay opaque strings.
    """
    if not raw:
        return ""
    value = raw.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def parse_object_time(raw: object) -> datetime | None:
    """An object's time as S3 listings and event notifications give it (ISO 8601, `Z` for UTC).

    None when absent or unreadable.
    """
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None


def key_name(key: str) -> str:
    """The file name of an object key: the part after the last `/`."""
    return key.rsplit("/", 1)[-1]
