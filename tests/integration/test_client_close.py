"""Kafka clients leave no connection open when aiokafka's ``stop()`` ends early.

aiokafka's ``Fetcher.close`` awaits the fetch tasks it cancelled and lets a ``CancelledError``
out when one had not started: ``AIOKafkaConsumer.stop()`` then ends before it closes its
connections and calls itself closed. A consumer that was fetching is stopped here with that
early end injected into its real fetcher, on a real broker. The tasks ``stop()`` did not reach
(fetch tasks never cancelled, the coordinator's) must not open new connections afterwards
either: a group consumer whose stop times out in the middle of leaving its group is checked
a while after the stop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.conftest import KafkaEndpoint, Names
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.schemas.aio import settle, stop_kafka

pytestmark = pytest.mark.integration


async def _fetching_consumer(kafka: KafkaEndpoint, names: Names) -> AIOKafkaConsumer:
    await ensure_topics({"bootstrap_servers": kafka.bootstrap}, [TopicSpec(names.events, 1)])
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, fetch_max_wait_ms=200)
    await consumer.start()
    consumer.assign([TopicPartition(names.events, 0)])
    await consumer.getmany(timeout_ms=300)  # the fetcher now has a connection to the leader
    fetcher: Any = consumer._fetcher
    original = fetcher.close

    async def ends_early() -> None:
        await original()
        raise asyncio.CancelledError  # what a fetch task cancelled before it ran re-raises

    fetcher.close = ends_early
    return consumer


async def _left_alone(consumer: AIOKafkaConsumer) -> list[Any]:
    """Connections open a while after the stop: what the client's tasks opened again."""
    await asyncio.sleep(1.0)  # several fetch waits and heartbeat intervals
    return _open(consumer)


def _open(consumer: AIOKafkaConsumer) -> list[Any]:
    return [conn for conn in consumer._client._conns.values() if conn.connected()]


async def test_a_stop_that_ends_early_still_closes_every_connection(
    kafka: KafkaEndpoint, names: Names
) -> None:
    consumer = await _fetching_consumer(kafka, names)
    assert _open(consumer)
    failure = await settle(stop_kafka(consumer), 5.0)
    assert isinstance(failure, asyncio.CancelledError)  # reported, not raised
    assert _open(consumer) == []
    assert await _left_alone(consumer) == []


async def test_a_stop_that_ends_early_leaves_no_task_that_reconnects(
    kafka: KafkaEndpoint, names: Names
) -> None:
    consumer = await _fetching_consumer(kafka, names)
    fetcher: Any = consumer._fetcher

    async def ends_at_once() -> None:  # as when the first task it awaits had not started:
        raise asyncio.CancelledError  # the fetch loop and the other fetch tasks run on

    fetcher.close = ends_at_once
    failure = await settle(stop_kafka(consumer), 5.0)
    assert isinstance(failure, asyncio.CancelledError)
    assert await _left_alone(consumer) == []
    assert fetcher._fetch_task.done()


async def test_a_stop_timed_out_while_leaving_the_group_leaves_no_task_that_reconnects(
    kafka: KafkaEndpoint, names: Names
) -> None:
    await ensure_topics({"bootstrap_servers": kafka.bootstrap}, [TopicSpec(names.events, 1)])
    consumer = AIOKafkaConsumer(
        names.events,
        bootstrap_servers=kafka.bootstrap,
        group_id=names.group,
        fetch_max_wait_ms=100,
        heartbeat_interval_ms=100,
    )
    await consumer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=200)
    coordinator: Any = consumer._coordinator

    async def leave_held() -> None:  # a LeaveGroup the broker answers late
        await asyncio.sleep(30)

    coordinator._maybe_leave_group = leave_held
    failure = await settle(stop_kafka(consumer), 0.5)
    assert isinstance(failure, TimeoutError)
    assert await _left_alone(consumer) == []
    assert consumer._fetcher._fetch_task.done()


async def test_control_aiokafka_alone_leaves_them_open(kafka: KafkaEndpoint, names: Names) -> None:
    consumer = await _fetching_consumer(kafka, names)
    failure = await settle(consumer.stop(), 5.0)
    assert isinstance(failure, asyncio.CancelledError)
    left = _open(consumer)
    assert left  # the leak stop_kafka exists for
    await consumer.stop()  # closed now: does nothing
    assert _open(consumer) == left
    await consumer._client.close()
