"""The status topic: each group member's state and last error, for ``tooltrail stats``.

Like Kafka Connect's status topic: every member publishes a small JSON record keyed
``<group>/<member>`` when its state changes and every ``TOOLTRAIL_STATUS_INTERVAL_S``; the
topic is compacted, so the newest record per member is what remains. A member that stops
cleanly says so (``stopped``); one that died is recognised by the age of its last record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.schemas.aio import cancelled_here, settle, stop_kafka
from tooltrail.schemas.kafka.clients import kafka_consumer

MEMBER = f"{socket.gethostname()[:100]}-{os.getpid()}"
#: What ``stats``, ``memory stats`` and ``memory audit`` say after a store was wiped (issue 28).
RESET_ADVICE = (
    "memories written before are lost; rebuild them with 'tooltrail replay memory --swap'"
)


def state_of(stats: GroupStats, stopping: bool = False) -> str:
    """``starting``, ``running``, ``retrying``, ``stuck`` or ``stopped``."""
    if stopping:
        return "stopped"
    if not stats.connected:
        return "starting"
    if stats.stuck:
        return "stuck"
    return "retrying" if stats.retrying_since is not None else "running"


def status_record(stats: GroupStats, state: str) -> dict[str, Any]:
    """The JSON body a member publishes."""
    return {
        "group": stats.group,
        "member": MEMBER,
        "sink": stats.sink,
        "state": state,
        "lastError": stats.last_error,
        "lastErrorAt": stats.last_error_at,
        "retryingForS": round(stats.retrying_for, 1),
        "written": stats.written,
        "deadLettered": stats.dead_lettered,
        "storeResets": stats.store_resets,
        "storeResetAt": stats.store_reset_at,
        "lag": sum(stats.lag().values()),
        "partitions": sorted(stats.highwater),
        "updatedAt": time.time(),
    }


class StatusReporter:
    """Publishes one member's status through an existing producer (never raises)."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, timeout: float) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout = timeout
        self._last: tuple[Any, ...] | None = None
        self._sent_at = 0.0

    async def report(self, stats: GroupStats, interval: float, stopping: bool = False) -> None:
        """Publish if the state or last error changed, or ``interval`` seconds have passed."""
        state = state_of(stats, stopping)
        mark = (state, stats.last_error)
        if mark == self._last and time.monotonic() - self._sent_at < interval:
            return
        body = orjson.dumps(status_record(stats, state))
        key = f"{stats.group}/{MEMBER}".encode()
        try:  # status is best effort; the group goes on
            async with asyncio.timeout(self.timeout):  # send() itself waits for metadata
                await (await self.producer.send(self.topic, body, key=key))
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and cancelled_here():
                raise
            return
        self._last, self._sent_at = mark, time.monotonic()


async def read_status(
    kafka_kwargs: dict[str, Any],
    topic: str,
    wait_s: float = 5.0,
) -> dict[str, dict[str, Any]]:
    """The newest status record per ``group/member`` (empty if the topic does not exist)."""
    consumer = kafka_consumer(
        kafka_kwargs, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    latest: dict[str, dict[str, Any]] = {}
    try:
        await asyncio.wait_for(consumer.start(), wait_s)
        if topic not in await consumer.topics():
            return latest
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for record in (r for records in batch.values() for r in records):
                with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                    latest[(record.key or b"").decode(errors="replace")] = orjson.loads(
                        record.value
                    )
            if await _caught_up(consumer, tps):
                break
    finally:
        await settle(stop_kafka(consumer), wait_s)
    return latest


async def _caught_up(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> bool:
    for tp in tps:
        end = consumer.highwater(tp)
        if end is None or await consumer.position(tp) < end:
            return False
    return True
