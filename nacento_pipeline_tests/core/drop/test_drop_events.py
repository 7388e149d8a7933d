"""Bucket event notifications (S3/MinIO and R2 shapes) read into plain records."""

import json

import pytest

from nacento_pipeline.core.drop.events import UnreadableEvent, parse_event_message


def test_s3_records_with_url_encoded_keys():
    body = json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "eventTime": "2026-11-23T10:00:00.000Z",
                    "s3": {
                        "bucket": {"name": "catalog"},
                        "object": {"key": "pim-drop/import-media_a+b%C3%A9.ok", "size": 12, "eTag": "abc"},
                    },
                },
                {
                    "eventName": "ObjectRemoved:Delete",
                    "s3": {"bucket": {"name": "catalog"}, "object": {"key": "x.csv"}},
                },
                {
                    "eventName": "ObjectRestore:Completed",
                    "s3": {"bucket": {"name": "catalog"}, "object": {"key": "y"}},
                },
            ]
        }
    )
    created, removed = parse_event_message(body)
    assert (created.bucket, created.created, created.info.key) == (
        "catalog",
        True,
        "pim-drop/import-media_a bé.ok",
    )
    assert (created.info.etag, created.info.size, created.info.last_modified.year) == ("abc", 12, 2026)
    assert (removed.created, removed.info.key, removed.info.last_modified) == (False, "x.csv", None)


def test_r2_message_test_event_and_sns_envelope():
    r2 = {
        "account": "a1",
        "action": "PutObject",
        "bucket": "catalog",
        "eventTime": "2026-11-23T10:00:00Z",
        "object": {"key": "pim-drop/import-media_x.ok", "size": 0, "eTag": "d41d"},
    }
    [event] = parse_event_message(json.dumps(r2))
    assert (event.created, event.info.key, event.info.etag) == (True, "pim-drop/import-media_x.ok", "d41d")
    assert parse_event_message({**r2, "action": "DeleteObject"})[0].created is False
    assert parse_event_message({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "catalog"}) == []
    sns = {"Type": "Notification", "Message": json.dumps(r2)}
    assert parse_event_message(sns)[0].info.key == "pim-drop/import-media_x.ok"


@pytest.mark.parametrize(
    "body, words",
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"hello": 1}', "neither"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "s3.object.key"),
        ('{"action": "PutObject", "object": {}}', "object.key"),
    ],
)
def test_unreadable_messages_say_why(body, words):
    with pytest.raises(UnreadableEvent, match=words):
        parse_event_message(body)
