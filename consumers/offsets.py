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
from aiokafka.admin import AIOKafkaAdminClient


async def partitions_of(kafka_kwargs: dict[str, Any], topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` (empty if it does not exist)."""
    consumer = AIOKafkaConsumer(**kafka_kwargs, group_id=None)
    await consumer.start()
    try:
        if topic not in await consumer.topics():  # refreshes metadata
            return []
        return [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
    finally:
        await consumer.stop()


async def true_end_offsets(
    kafka_kwargs: dict[str, Any], partitions: list[TopicPartition], wait_s: float = 10.0
) -> dict[TopicPartition, int]:
    """The high watermark of each partition, read from fetch responses."""
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(**kafka_kwargs, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=50)  # fmt: skip
    await consumer.start()
    try:
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
        await consumer.stop()


async def committed_offsets(
    kafka_kwargs: dict[str, Any], group: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int | None]:
    """The group's committed offset per partition (None: nothing committed yet)."""
    admin = AIOKafkaAdminClient(**kafka_kwargs)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    return {tp: (meta.offset if meta is not None and meta.offset >= 0 else None)
            for tp, meta in ((tp, offsets.get(tp)) for tp in partitions)}  # fmt: skip


async def gather_stats(
    kafka_kwargs: dict[str, Any], topic: str, dlq_topic: str, groups: list[str]
) -> dict[str, Any]:
    """Per group and partition: committed, highwater, lag; and the dead-letter count."""
    parts, dlq_parts = await asyncio.gather(
        partitions_of(kafka_kwargs, topic), partitions_of(kafka_kwargs, dlq_topic)
    )
    ends = await true_end_offsets(kafka_kwargs, parts + dlq_parts)
    out: dict[str, Any] = {"topic": topic, "groups": {}, "dlq": {
        "topic": dlq_topic, "messages": sum(ends.get(tp, 0) for tp in dlq_parts)}}  # fmt: skip
    for group in groups:
        committed = await committed_offsets(kafka_kwargs, group, parts)
        rows = []
        for tp in parts:
            done, end = committed[tp], ends.get(tp, 0)
            rows.append({"partition": tp.partition, "committed": done, "highwater": end,
                         "lag": end - (done or 0)})  # fmt: skip
        out["groups"][group] = {"partitions": rows, "lag": sum(r["lag"] for r in rows)}
    return out
