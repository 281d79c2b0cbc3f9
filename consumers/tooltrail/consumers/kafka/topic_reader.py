"""Reading a topic apart from any group: in bounded batches, or one record at an offset.

``stream`` reads every partition from the beginning up to the end seen when it started and
yields batches, so a caller that keeps only what it needs stays at bounded memory whatever
the topic holds. ``fetch`` seeks straight to one ``partition:offset``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from tooltrail.consumers.errors import UsageError
from tooltrail.consumers.kafka.offsets import partitions_of, true_end_offsets
from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.kafka.clients import kafka_consumer

Record: TypeAlias = "ConsumerRecord[Any, Any]"


def _consumer(kafka_kwargs: dict[str, Any], wait_s: float) -> AIOKafkaConsumer:
    timeout_ms = int(wait_s * 1000)
    return kafka_consumer(
        kafka_kwargs,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        request_timeout_ms=timeout_ms,
    )


async def stream(
    kafka_kwargs: dict[str, Any], topic: str, *, batch: int = 500, wait_s: float = 15.0
) -> AsyncIterator[list[Record]]:
    """Batches of every record of ``topic``, oldest first per partition, up to its end now.

    Stops early if no record arrives for ``wait_s`` (a partition that cannot be read).
    """
    parts = await partitions_of(kafka_kwargs, topic, wait_s)
    ends = await true_end_offsets(kafka_kwargs, parts, wait_s)
    todo = {tp: end for tp, end in ends.items() if end > 0}
    if not todo:
        return
    consumer = _consumer(kafka_kwargs, wait_s)
    try:
        await asyncio.wait_for(consumer.start(), wait_s)
        consumer.assign(list(todo))
        await consumer.seek_to_beginning(*todo)
        idle_since = time.monotonic()
        while todo and time.monotonic() - idle_since < wait_s:
            data = await consumer.getmany(timeout_ms=200, max_records=batch)
            records = [r for tp, rs in data.items() for r in rs if r.offset < todo.get(tp, 0)]
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    del todo[tp]
            if records:
                idle_since = time.monotonic()
                yield records
    finally:
        await settle(stop_kafka(consumer), wait_s)


async def fetch(
    kafka_kwargs: dict[str, Any], topic: str, partition: int, offset: int, wait_s: float = 15.0
) -> Record | None:
    """The record at ``partition:offset`` of ``topic``, or None if there is none there.

    Raises:
        UsageError: the partition does not exist (the message names the ones that do).
    """
    parts = await partitions_of(kafka_kwargs, topic, wait_s)
    tp = TopicPartition(topic, partition)
    if tp not in parts:
        known = ", ".join(str(p.partition) for p in parts) or "none: the topic does not exist"
        raise UsageError(f"{topic} has no partition {partition} (partitions: {known})")
    end = (await true_end_offsets(kafka_kwargs, [tp], wait_s)).get(tp, 0)
    if not 0 <= offset < end:
        return None
    consumer = _consumer(kafka_kwargs, wait_s)
    try:
        await asyncio.wait_for(consumer.start(), wait_s)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            for record in (await consumer.getmany(tp, timeout_ms=200)).get(tp, []):
                if record.offset == offset:
                    found: Record = record
                    return found
                if record.offset > offset:
                    return None
        return None
    finally:
        await settle(stop_kafka(consumer), wait_s)


def parse_ref(text: str) -> tuple[int, int]:
    """``"2:41"`` → ``(2, 41)``.

    Raises:
        UsageError: naming the text and the expected form.
    """
    partition, sep, offset = text.partition(":")
    if not sep or not partition.strip().isdigit() or not offset.strip().isdigit():
        raise UsageError(
            f"{text!r} is not a dead letter reference: expected PARTITION:OFFSET, e.g. 0:17"
        )
    return int(partition), int(offset)
