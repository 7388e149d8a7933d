"""pim_drop_sensor in event mode: S3 event notifications via SQS (moto server), LIST only what events name."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from nacento_pipeline.defs.constants import PARTITIONS_NAME
from nacento_pipeline.storage.drop.samples import drop_sample_batch

PENDING = 300  # bunch files lying in the drop prefix (no OK file): a LIST scan would page through them


def _seed_quietly(bucket: str, keys: list[str]) -> None:
    """Objects that were there before (no event): straight into moto's backend, notifications off."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, key, b"sku,file_path\n", disable_notification=True)


@pytest.fixture
def queue_url(moto_endpoint: str, s3_bucket: str) -> str:
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"drops-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1"
    ).put_bucket_notification_configuration(
        Bucket=s3_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "pim-drop/"}]}},
                }
            ]
        },
    )
    return url


@pytest.fixture
def events_pipeline(s3_mariadb_factory, queue_url, moto_endpoint, s3_bucket):
    p = s3_mariadb_factory(
        drop_events="sqs", drop_events_queue_url=queue_url, drop_events_endpoint_url=moto_endpoint
    )
    _seed_quietly(
        s3_bucket, [f"{p.settings.drop_prefix}import-media_waiting{n:04d}_01.csv" for n in range(PENDING)]
    )
    return p


@pytest.fixture
def listed(monkeypatch) -> list[str]:
    """The prefix of every LIST call any S3ObjectStore makes (the sensor's resource builds its own store)."""
    from nacento_pipeline.storage.adapters.s3 import S3ObjectStore

    prefixes: list[str] = []
    original = S3ObjectStore.list

    def counting(self, prefix, start_after=None):
        prefixes.append(prefix)
        return original(self, prefix, start_after)

    monkeypatch.setattr(S3ObjectStore, "list", counting)
    return prefixes


def test_batch_registers_from_events_without_listing_the_prefix(events_pipeline, instance, listed):
    p = events_pipeline
    first = p.tick(instance)  # no cursor yet: one full LIST (whatever dropped before events were on)
    assert first.run_requests == [] and json.loads(first.cursor)["events"]["last_full_scan"] > 0

    assert listed == [p.settings.drop_prefix]
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)  # 3 PUTs -> 3 event notifications
    listed.clear()
    result = p.tick(instance, cursor=first.cursor)
    assert [r.partition_key for r in result.run_requests] == [batch.batch_key]
    # one LIST, of the batch's own names: never the drop prefix with its 300 pending files
    assert listed == [f"{p.settings.drop_prefix}import-{batch.batch_key}"]
    assert [list(a.partition_keys) for a in result.dynamic_partitions_requests] == [[batch.batch_key]]

    # the queue is drained: the next tick registers nothing again, and cleans up once the partition exists
    instance.add_dynamic_partitions(PARTITIONS_NAME, [batch.batch_key])
    listed.clear()
    again = p.tick(instance, cursor=result.cursor)
    assert again.run_requests == []
    assert "cleaned up 1 registered batch" in again.skip_reason.skip_message
    assert listed == [f"{p.settings.drop_prefix}import-{batch.batch_key}"]
    remaining = [o.key for o in p.store.list(p.settings.drop_prefix)]
    assert len(remaining) == PENDING and not set(batch.keys) & set(remaining)

    listed.clear()
    idle = p.tick(instance, cursor=again.cursor)
    assert idle.run_requests == [] and listed == []  # nothing new: no LIST at all


def test_a_lost_message_is_caught_by_the_periodic_full_list(
    events_pipeline, instance, queue_url, moto_endpoint
):
    p = events_pipeline
    first = p.tick(instance)
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1").purge_queue(QueueUrl=queue_url)

    missed = p.tick(instance, cursor=first.cursor)
    assert missed.run_requests == []  # the events are gone and the full LIST is not due yet

    cursor = json.loads(missed.cursor)
    cursor["events"]["last_full_scan"] -= p.settings.drop_events_reconcile_minutes * 60 + 1
    caught = p.tick(instance, cursor=json.dumps(cursor))
    assert [r.partition_key for r in caught.run_requests] == [batch.batch_key]


def test_an_archived_batch_deleted_by_hand_is_no_longer_looked_at(events_pipeline, instance, listed):
    p = events_pipeline
    first = p.tick(instance)
    batch = drop_sample_batch(p.store, p.settings.drop_prefix)
    registered = p.tick(instance, cursor=first.cursor)
    assert json.loads(registered.cursor)["archived"]  # awaiting clean-up
    p.store.delete(list(batch.keys))  # someone removed the drop before its partition was registered
    listed.clear()
    gone = p.tick(instance, cursor=registered.cursor)
    assert (
        listed == [f"{p.settings.drop_prefix}import-{batch.batch_key}"]
        and json.loads(gone.cursor)["archived"] == {}
    )
    listed.clear()
    p.tick(instance, cursor=gone.cursor)
    assert listed == []
