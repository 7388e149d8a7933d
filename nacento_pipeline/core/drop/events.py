"""Bucket event notifications, read into plain records: which objects were created or removed, and when.

Two message shapes are understood, whatever queue carried them:

- S3 / MinIO event notifications (`{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name"},
  "object": {"key", "size", "eTag"}}, "eventTime"}]}`); object keys arrive URL-encoded (`+` for a space).
  The `s3:TestEvent` S3 sends when a notification is configured carries no records.
- Cloudflare R2 event notifications (`{"account", "action": "PutObject", "bucket", "object": {"key", "size",
  "eTag"}, "eventTime"}`), as a queue consumer receives them (keys are not encoded).

A message that is neither (or not JSON) is reported as unreadable, never guessed at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote_plus

from nacento_pipeline.core.objects import ObjectInfo, parse_object_time, strip_etag

R2_CREATE_ACTIONS = frozenset({"PutObject", "CopyObject", "CompleteMultipartUpload"})
R2_REMOVE_ACTIONS = frozenset({"DeleteObject", "LifecycleDeletion"})


@dataclass(frozen=True)
class BucketEvent:
    """One object created (`created` True, with its info) or removed in `bucket`."""

    bucket: str
    created: bool
    info: ObjectInfo


class UnreadableEvent(ValueError):
    """A queue message that is not a bucket event notification; the message names what is wrong."""


def _info(obj: dict, key: str, when: datetime | None) -> ObjectInfo:
    etag = strip_etag(str(obj.get("eTag") or obj.get("etag") or ""))
    try:
        size = int(obj.get("size") or 0)
    except (TypeError, ValueError):
        size = 0
    return ObjectInfo(key=key, etag=etag, size=size, last_modified=when)


def _s3_record(record: dict) -> BucketEvent | None:
    name = str(record.get("eventName", ""))
    s3 = record.get("s3")
    if not isinstance(s3, dict) or not isinstance(s3.get("object"), dict) or "key" not in s3["object"]:
        raise UnreadableEvent("S3 event record without s3.object.key")
    if not name.startswith(("ObjectCreated:", "ObjectRemoved:")):
        return None  # restore, replication, tagging...: nothing a drop cares about
    key = unquote_plus(str(s3["object"]["key"]))
    bucket = str((s3.get("bucket") or {}).get("name", ""))
    return BucketEvent(
        bucket,
        name.startswith("ObjectCreated:"),
        _info(s3["object"], key, parse_object_time(record.get("eventTime"))),
    )


def _r2_message(data: dict) -> BucketEvent | None:
    action = str(data.get("action", ""))
    obj = data.get("object")
    if not isinstance(obj, dict) or "key" not in obj:
        raise UnreadableEvent("R2 event message without object.key")
    if action not in R2_CREATE_ACTIONS | R2_REMOVE_ACTIONS:
        return None
    return BucketEvent(
        str(data.get("bucket", "")),
        action in R2_CREATE_ACTIONS,
        _info(obj, str(obj["key"]), parse_object_time(data.get("eventTime"))),
    )


def parse_event_message(body: str | bytes | dict) -> list[BucketEvent]:
    """The bucket events in one queue message body (S3/MinIO or R2 shape); [] for test events."""
    if isinstance(body, dict):
        data = body
    else:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise UnreadableEvent(f"message body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UnreadableEvent("message body is not a JSON object")
    if isinstance(data.get("Message"), str) and data.get("Type") == "Notification":
        return parse_event_message(data["Message"])  # delivered through SNS (raw delivery off)
    if data.get("Event") == "s3:TestEvent":
        return []
    if "Records" in data:
        records = data["Records"]
        if not isinstance(records, list):
            raise UnreadableEvent("Records is not a list")
        events = []
        for record in records:
            if not isinstance(record, dict):
                raise UnreadableEvent("an event record is not a JSON object")
            event = _s3_record(record)
            if event is not None:
                events.append(event)
        return events
    if "action" in data and "object" in data:
        event = _r2_message(data)
        return [event] if event is not None else []
    raise UnreadableEvent("neither an S3 (Records) nor an R2 (action/object) event notification")
