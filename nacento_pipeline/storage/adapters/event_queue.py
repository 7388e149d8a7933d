"""The queue that carries the bucket's event notifications (SQS for AWS S3 and MinIO), via boto3.

A message is acknowledged (deleted) only after the pass that read it has finished, so a tick that dies
half-way leaves its messages to reappear after the queue's visibility timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from nacento_pipeline.core.drop.events import BucketEvent, UnreadableEvent, parse_event_message
from nacento_pipeline.storage.adapters.base import StorageError

SQS_BATCH = 10  # ReceiveMessage / DeleteMessageBatch maximum


@dataclass(frozen=True)
class QueueMessage:
    """One received message: its receipt (to acknowledge it), its bucket events, or why it has none."""

    receipt: str
    events: list[BucketEvent] = field(default_factory=list)
    error: str = ""  # set when the body was not an event notification (the message id names it)


class SqsEventQueue:
    """Receives and acknowledges S3 event notifications from one SQS queue; counts its API calls."""

    def __init__(
        self,
        queue_url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if not queue_url:
            raise ValueError("SqsEventQueue needs a queue URL")
        self.queue_url = queue_url
        self.calls = {"receive": 0, "delete": 0}
        if client is None:
            config = Config(retries={"mode": "adaptive", "max_attempts": 8})
            client = boto3.session.Session().client(
                "sqs", endpoint_url=endpoint_url, region_name=region, config=config
            )
        self._client = client

    def receive(self, max_messages: int = 1000) -> list[QueueMessage]:
        """Up to `max_messages` messages waiting now (no long poll: a tick must stay short)."""
        out: list[QueueMessage] = []
        while len(out) < max_messages:
            self.calls["receive"] += 1
            try:
                resp = self._client.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(SQS_BATCH, max_messages - len(out)),
                    WaitTimeSeconds=0,
                )
            except (ClientError, BotoCoreError) as exc:
                raise StorageError(f"receiving from {self.queue_url} failed: {exc}") from exc
            messages = resp.get("Messages") or []
            if not messages:
                break
            for message in messages:
                try:
                    out.append(
                        QueueMessage(message["ReceiptHandle"], parse_event_message(message.get("Body", "")))
                    )
                except UnreadableEvent as exc:
                    out.append(
                        QueueMessage(
                            message["ReceiptHandle"], error=f"message {message.get('MessageId', '?')}: {exc}"
                        )
                    )
        return out

    def ack(self, receipts: Sequence[str]) -> None:
        """Delete the messages of these receipts from the queue, SQS_BATCH per request."""
        for start in range(0, len(receipts), SQS_BATCH):
            batch = receipts[start : start + SQS_BATCH]
            self.calls["delete"] += 1
            try:
                resp = self._client.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(batch)],
                )
            except (ClientError, BotoCoreError) as exc:
                raise StorageError(f"acknowledging messages on {self.queue_url} failed: {exc}") from exc
            if resp.get("Failed"):
                first = resp["Failed"][0]
                raise StorageError(
                    f"acknowledging messages on {self.queue_url} failed: {first.get('Code')}: "
                    f"{first.get('Message')} ({len(resp['Failed'])} message(s))"
                )
