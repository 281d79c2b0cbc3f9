"""Offsets that are right on Tansu too: true ends from fetch ``highwater``, group commits.

Tansu's ListOffsets(latest) is wrong whenever the last batch holds several records, so the
true end of a partition is read from the ``highwater`` of a fetch positioned just before the
(possibly wrong) reported end.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.kafka.clients import kafka_admin, kafka_consumer


async def partitions_of(
    kafka_kwargs: dict[str, Any], topic: str, wait_s: float = 15.0
) -> list[TopicPartition]:
    """The partitions of ``topic`` (empty if it does not exist).

    Raises:
        KafkaError, OSError, TimeoutError: Kafka did not answer within ``wait_s``.
    """
    consumer = kafka_consumer(kafka_kwargs, group_id=None, request_timeout_ms=int(wait_s * 1000))
    try:
        async with asyncio.timeout(wait_s):
            await consumer.start()
            if topic not in await consumer.topics():  # refreshes metadata
                return []
            found = consumer.partitions_for_topic(topic) or ()
        return [TopicPartition(topic, p) for p in sorted(found)]
    finally:
        await _stop(consumer, wait_s)


async def _stop(consumer: AIOKafkaConsumer, wait_s: float) -> None:
    await settle(stop_kafka(consumer), wait_s)


async def true_end_offsets(
    kafka_kwargs: dict[str, Any], partitions: list[TopicPartition], wait_s: float = 10.0
) -> dict[TopicPartition, int]:
    """The high watermark of each partition, read from fetch responses."""
    if not partitions:
        return {}
    consumer = kafka_consumer(
        kafka_kwargs,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
        request_timeout_ms=int(wait_s * 1000),
    )
    try:
        async with asyncio.timeout(wait_s):
            await consumer.start()
            consumer.assign(partitions)
            reported = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(reported[tp] - 1, 0))
        deadline = time.monotonic() + wait_s
        while any(consumer.highwater(tp) is None for tp in partitions):
            if time.monotonic() > deadline:
                break
            await consumer.getmany(timeout_ms=100)
        return {tp: consumer.highwater(tp) or reported[tp] for tp in partitions}
    finally:
        await _stop(consumer, wait_s)


async def group_members(
    kafka_kwargs: dict[str, Any], group: str, wait_s: float = 15.0
) -> int | None:
    """How many members ``group`` has now; None when the broker could not say in time."""
    admin = kafka_admin(kafka_kwargs, request_timeout_ms=int(wait_s * 1000))
    try:
        async with asyncio.timeout(wait_s):
            await admin.start()
            [response] = await admin.describe_consumer_groups([group])
        groups = response.to_object().get("groups") or []
        return len(groups[0].get("members") or []) if groups else 0
    except (KafkaError, OSError, TimeoutError, LookupError, ValueError, TypeError):
        # not knowing means: assume members (the safe answer is to wait)
        return None
    finally:
        await settle(admin.close(), wait_s)


async def committed_offsets(
    kafka_kwargs: dict[str, Any], group: str, partitions: list[TopicPartition], wait_s: float = 15.0
) -> dict[TopicPartition, int | None]:
    """The group's committed offset per partition (None: nothing committed yet)."""
    admin = kafka_admin(kafka_kwargs, request_timeout_ms=int(wait_s * 1000))
    try:
        async with asyncio.timeout(wait_s):
            await admin.start()
            offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await settle(admin.close(), wait_s)
    return {
        tp: (meta.offset if meta is not None and meta.offset >= 0 else None)
        for tp, meta in ((tp, offsets.get(tp)) for tp in partitions)
    }


async def gather_stats(
    kafka_kwargs: dict[str, Any], topic: str, dlq_topic: str, groups: list[str]
) -> dict[str, Any]:
    """Per group and partition: committed, highwater, lag; and the dead-letter count.

    Lag is never negative: the commits are read before the ends (an end only grows while
    groups commit), and a commit past the end (a topic created again under its group)
    counts as no lag.
    """
    parts, dlq_parts = await asyncio.gather(
        partitions_of(kafka_kwargs, topic), partitions_of(kafka_kwargs, dlq_topic)
    )
    commits = {group: await committed_offsets(kafka_kwargs, group, parts) for group in groups}
    ends = await true_end_offsets(kafka_kwargs, parts + dlq_parts)
    out: dict[str, Any] = {
        "topic": topic,
        "groups": {},
        "dlq": {"topic": dlq_topic, "messages": sum(ends.get(tp, 0) for tp in dlq_parts)},
    }
    for group in groups:
        rows = []
        for tp in parts:
            done, end = commits[group][tp], ends.get(tp, 0)
            rows.append(
                {
                    "partition": tp.partition,
                    "committed": done,
                    "highwater": end,
                    "lag": max(end - (done or 0), 0),
                }
            )
        out["groups"][group] = {"partitions": rows, "lag": sum(r["lag"] for r in rows)}
    return out
