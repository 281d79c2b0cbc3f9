"""Kafka clients leave no connection open when aiokafka's ``stop()`` ends early.

aiokafka's ``Fetcher.close`` awaits the fetch tasks it cancelled and lets a ``CancelledError``
out when one had not started: ``AIOKafkaConsumer.stop()`` then ends before it closes its
connections and calls itself closed. A consumer that was fetching is stopped here with that
early end injected into its real fetcher, on a real broker.
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


async def test_control_aiokafka_alone_leaves_them_open(kafka: KafkaEndpoint, names: Names) -> None:
    consumer = await _fetching_consumer(kafka, names)
    failure = await settle(consumer.stop(), 5.0)
    assert isinstance(failure, asyncio.CancelledError)
    left = _open(consumer)
    assert left  # the leak stop_kafka exists for
    await consumer.stop()  # closed now: does nothing
    assert _open(consumer) == left
    await consumer._client.close()
