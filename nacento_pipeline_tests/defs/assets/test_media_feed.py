"""The media change feed: S3 notifications -> SQS (moto server) drained by the snapshot, which LISTs only the
prefixes with events; the full LIST as the feed's audit and its fallback on a gap; the real S3 server (JuiceFS
gateway, no notifications: the events sent to moto's SQS as its webhook would) gives the same ETags."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import boto3
import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from nacento_pipeline.core.media_feed import full_snapshot_reason
from nacento_pipeline.core.paths import MEDIA_PREFIX
from nacento_pipeline.defs.assets.media_feed import FeedSnapshot, feed_metadata, feed_snapshot
from nacento_pipeline.magento.database import MagentoDatabase
from nacento_pipeline.magento.demo import create_demo_schema
from nacento_pipeline.magento.media_feed import LAST_FULL, last_full_snapshot, record_full_snapshot
from nacento_pipeline.storage.adapters.event_queue import SqsEventQueue
from nacento_pipeline.storage.adapters.s3 import S3ObjectStore
from nacento_pipeline.storage.etag_snapshot import snapshot_etags
from nacento_pipeline_tests.conftest import create_bucket
from nacento_pipeline_tests.defs.harness import materializations

PREFIXES = [f"{MEDIA_PREFIX}{a}/{b}/" for a, b in ("aa", "ab", "ba", "bb")]
PER_PREFIX = 6


def _wanted() -> pd.DataFrame:
    keys = [f"{p}img{n}.jpg" for p in PREFIXES for n in range(PER_PREFIX)]
    return pd.DataFrame({"value": ["/" + k[len(MEDIA_PREFIX) :] for k in keys], "key": keys})


@pytest.fixture
def db(mysql_url: str):
    engine = sa.create_engine(mysql_url)
    create_demo_schema(engine)
    engine.dispose()
    database = MagentoDatabase(mysql_url)
    yield database
    database.engine.dispose()


@pytest.fixture
def sqs(moto_endpoint: str):
    return boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def moto_bucket(moto_endpoint: str, sqs) -> tuple[str, str]:
    """(bucket, queue URL): a moto bucket notifying a fresh queue of every change under the media prefix."""
    bucket = create_bucket("moto", moto_endpoint)
    url = sqs.create_queue(QueueName=f"media-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1"
    ).put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": MEDIA_PREFIX}]}},
                }
            ]
        },
    )
    return bucket, url


@pytest.fixture
def moto_feed(
    moto_endpoint: str, moto_bucket: tuple[str, str]
) -> tuple[str, str, S3ObjectStore, SqsEventQueue]:
    """(bucket, queue URL, its store with every wanted image uploaded (events in the queue), the queue)."""
    bucket, url = moto_bucket
    store = _store(moto_endpoint, bucket)
    _put_all(store)
    return bucket, url, store, SqsEventQueue(url, endpoint_url=moto_endpoint, region="us-east-1")


def _store(endpoint: str, bucket: str) -> S3ObjectStore:
    return S3ObjectStore(bucket, client=boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1"))


def _put_all(store: S3ObjectStore, salt: str = "") -> None:
    for key in _wanted()["key"]:
        store.put(key, f"{key}{salt}".encode())


def _quiet_put(bucket: str, key: str, data: bytes) -> None:
    """A change the feed never hears of: straight into moto's backend, notifications off."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(bucket, key, data, disable_notification=True)


def _snap(store, db, queue, **kw) -> FeedSnapshot:
    return feed_snapshot(store, db, queue, _wanted(), media_prefix=MEDIA_PREFIX, head_concurrency=4, **kw)


def _etags(frame: pd.DataFrame) -> dict[str, tuple[bool, str]]:
    return {k: (bool(e), t) for k, e, t in zip(frame["key"], frame["exists"], frame["etag"], strict=True)}


def _age_last_full(db: MagentoDatabase, hours: int) -> None:
    state = db.tables.media_feed_state
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(state)
            .where(state.c.name == LAST_FULL)
            .values(value_time=state.c.value_time - sa.text(f"INTERVAL {hours} HOUR"))
        )


def test_a_change_seen_through_the_feed_lists_only_its_prefix(moto_feed, db):
    _bucket, _url, store, queue = moto_feed

    first = _snap(store, db, queue)
    assert (first.mode, first.reason) == ("full", "no full snapshot yet")
    assert first.events == len(_wanted())  # the uploads' own events, drained and covered by the full LIST
    assert first.snapshot.requests.get("LIST", 0) == len(PREFIXES)

    quiet = _snap(store, db, queue)
    assert feed_metadata(quiet) | {"last_full_snapshot": "-"} == {
        "mode": "feed",
        "full_reason": "-",
        "prefixes_listed": 0,
        "keys_looked_up": 0,
        "keys_from_memory": len(_wanted()),
        "keys_never_seen": 0,
        "event_prefixes": 0,
        "messages_drained": 0,
        "events_drained": 0,
        "missed_by_feed": 0,
        "last_full_snapshot": "-",
    }
    assert quiet.snapshot.requests.get("LIST", 0) == 0 and quiet.snapshot.requests.get("HEAD", 0) == 0
    assert _etags(quiet.snapshot.frame) == _etags(first.snapshot.frame)

    changed = f"{PREFIXES[2]}img3.jpg"
    store.put(changed, b"new content")
    after = _snap(store, db, queue)
    assert after.mode == "feed" and after.events == 1
    assert after.event_prefixes == [PREFIXES[2]]
    assert feed_metadata(after)["prefixes_listed"] == 1
    assert after.snapshot.requests.get("LIST", 0) == 1 and after.snapshot.requests.get("HEAD", 0) == 0
    assert (after.looked_up, after.from_memory) == (PER_PREFIX, len(_wanted()) - PER_PREFIX)
    full = snapshot_etags(store, _wanted())
    assert _etags(after.snapshot.frame) == _etags(full.frame)
    assert _etags(after.snapshot.frame)[changed] != _etags(first.snapshot.frame)[changed]
    assert list(after.snapshot.frame["key"]) == list(_wanted()["key"])
    with db.engine.connect() as conn:  # the event, as recorded (acknowledged only after this commit)
        t = db.tables.media_feed_event
        rows = [(k, bool(c), e) for k, c, e in conn.execute(sa.select(t.c.object_key, t.c.created, t.c.etag))]
    assert (changed, True, _etags(full.frame)[changed][1]) in rows
    assert queue.receive() == []  # acknowledged


def test_a_feed_gap_falls_back_to_a_full_list(moto_endpoint, moto_feed, db, sqs):
    _bucket, url, store, queue = moto_feed
    _snap(store, db, queue)

    sqs.send_message(QueueUrl=url, MessageBody="not an event")
    unreadable = _snap(store, db, queue)
    assert unreadable.mode == "full" and "unreadable message" in unreadable.reason
    assert unreadable.snapshot.requests.get("LIST", 0) == len(PREFIXES)
    assert any("feed gap" in w and "full LIST ran instead" in w for w in unreadable.warnings)

    gone = SqsEventQueue(
        f"{moto_endpoint}/123456789012/no-such-queue", endpoint_url=moto_endpoint, region="us-east-1"
    )
    unreachable = _snap(store, db, gone)
    assert unreachable.mode == "full" and "queue unreachable" in unreachable.reason
    assert unreachable.snapshot.requests.get("LIST", 0) == len(PREFIXES)
    assert _snap(store, db, queue).mode == "feed"  # the gap is over: the feed is used again


def test_the_daily_full_list_finds_a_change_the_feed_missed(moto_feed, db):
    bucket, _url, store, queue = moto_feed
    first = _snap(store, db, queue)
    missed = f"{PREFIXES[1]}img0.jpg"
    _quiet_put(bucket, missed, b"changed behind the feed's back")
    stale = _snap(store, db, queue)
    assert stale.mode == "feed"
    assert (
        _etags(stale.snapshot.frame)[missed] == _etags(first.snapshot.frame)[missed]
    )  # the feed cannot know

    _age_last_full(db, 25)
    audit = _snap(store, db, queue)
    assert audit.mode == "full" and audit.reason.startswith("audit due")
    assert list(audit.missed["key"]) == [missed]
    assert feed_metadata(audit)["missed_by_feed"] == 1
    assert any("did not deliver" in w and missed in w for w in audit.warnings)
    now = snapshot_etags(store, _wanted()).frame
    assert _etags(audit.snapshot.frame) == _etags(now)
    reset = _snap(store, db, queue)
    assert reset.mode == "feed" and _etags(reset.snapshot.frame) == _etags(now) and reset.missed.empty


def test_real_s3_feed_snapshot_gives_the_full_snapshots_etags(juicefs_endpoint, moto_endpoint, sqs, db):
    """The JuiceFS gateway sends no notifications: its webhook's S3-shaped events go to moto's SQS here."""
    bucket = create_bucket("juicefs", juicefs_endpoint)
    store = _store(juicefs_endpoint, bucket)
    url = sqs.create_queue(QueueName=f"media-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue = SqsEventQueue(url, endpoint_url=moto_endpoint, region="us-east-1")
    _put_all(store)
    assert _snap(store, db, queue).mode == "full"
    changed, removed = f"{PREFIXES[0]}img1.jpg", f"{PREFIXES[3]}img5.jpg"
    etag = store.put(changed, b"a new version").etag
    store.delete([removed])
    records = [
        {
            "eventName": "ObjectCreated:Put",
            "eventTime": "2026-12-04T00:00:00.000Z",
            "s3": {"bucket": {"name": bucket}, "object": {"key": changed, "size": 13, "eTag": etag}},
        },
        {
            "eventName": "ObjectRemoved:Delete",
            "eventTime": "2026-12-04T00:00:01.000Z",
            "s3": {"bucket": {"name": bucket}, "object": {"key": removed}},
        },
    ]
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"EventName": "s3:ObjectCreated:Put", "Key": changed, "Records": records}),
    )
    fed = _snap(store, db, queue)
    assert fed.mode == "feed" and sorted(fed.event_prefixes) == [PREFIXES[0], PREFIXES[3]]
    assert fed.snapshot.requests.get("LIST", 0) == 2
    full = snapshot_etags(store, _wanted())
    assert _etags(fed.snapshot.frame) == _etags(full.frame)
    assert _etags(fed.snapshot.frame)[removed] == (False, "")
    assert fed.snapshot.frame["size"].tolist() == full.frame["size"].tolist()


def test_image_etags_says_which_mode_ran(s3_mariadb_factory, moto_endpoint, sqs):
    url = sqs.create_queue(QueueName=f"media-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    pipeline = s3_mariadb_factory(media_feed_queue_url=url, media_feed_endpoint_url=moto_endpoint)
    with dg.instance_for_test() as instance:
        _, result = pipeline.validate_sample_batch(instance)
    meta = materializations(result)["image_etags"]
    assert meta["feed_mode"] == "full" and meta["feed_full_reason"] == "no full snapshot yet"
    assert meta["feed_keys_from_memory"] == 0 and meta["feed_warning"] == "-"
    with pipeline.db.engine.connect() as conn:
        t = pipeline.db.tables.media_etag
        assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() == meta["keys"]


def test_image_etags_without_the_feed_says_off(s3_mariadb_factory):
    pipeline = s3_mariadb_factory()
    with dg.instance_for_test() as instance:
        _, result = pipeline.validate_sample_batch(instance)
    assert materializations(result)["image_etags"]["feed_mode"] == "off (full LIST)"


def test_last_full_snapshot_ages(db):
    """The audit interval is measured from the recorded start of the last full snapshot."""
    start = datetime(2026, 12, 1, 8, 0, 0, 123456)
    record_full_snapshot(db, start)
    assert last_full_snapshot(db) == start
    assert full_snapshot_reason(start, start + timedelta(hours=23), 24, []) == ""
    assert full_snapshot_reason(start, start + timedelta(hours=24), 24, []).startswith("audit due")
