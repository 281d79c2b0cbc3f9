"""The dead-letter topic: messages a group could not process, with the reason in headers.

Value and key are the original bytes; headers ``error``, ``group``, ``source-topic``,
``source-partition``, ``source-offset`` say what failed where. A value over the size limit
(the message was dead-lettered *because* it was too large) keeps its first ``limit`` bytes
and a ``value-truncated`` header with the original size. ``tooltrail dlq`` reads them.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from schemas.records import DeadLetter


def dlq_headers(
    record: ConsumerRecord[Any, Any], group: str, error: str
) -> list[tuple[str, bytes]]:
    """The headers of one dead letter."""
    return [
        ("error", error.encode()[:1000]),
        ("group", group.encode()),
        ("source-topic", record.topic.encode()),
        ("source-partition", str(record.partition).encode()),
        ("source-offset", str(record.offset).encode()),
    ]


async def send_dead_letters(
    producer: AIOKafkaProducer,
    topic: str,
    group: str,
    failures: list[tuple[ConsumerRecord[Any, Any], str]],
    limit: int,
) -> None:
    """Publish each failed record with its reason and wait until Kafka has them all."""
    futures = []
    for record, error in failures:
        headers = dlq_headers(record, group, error)
        value = record.value
        if value is not None and len(value) > limit:
            headers.append(("value-truncated", str(len(value)).encode()))
            value = value[:limit]
        futures.append(await producer.send(topic, value, key=record.key, headers=headers))
    for future in futures:
        await future


def read_dead_letter(record: ConsumerRecord[Any, Any]) -> DeadLetter:
    """The readable view of one message of the dead-letter topic."""
    headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
    value: bytes = record.value or b""
    return DeadLetter(
        source_topic=headers.get("source-topic", "?"),
        source_partition=int(headers.get("source-partition", -1)),
        source_offset=int(headers.get("source-offset", -1)),
        group=headers.get("group", "?"),
        error=headers.get("error", "?") or "?",
        failed_at=datetime.fromtimestamp(record.timestamp / 1000, tz=UTC),
        key=record.key.decode(errors="replace") if record.key else None,
        value_b64=base64.b64encode(value).decode(),
        size=int(headers.get("value-truncated", len(value))),
    )
