"""Reading a topic back in tests (group-less, all partitions, from the beginning), waiting on
conditions, and putting raw batches on a topic; every helper takes a real or ``memory://``
bootstrap."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.structs import ConsumerRecord

from tooltrail.schemas.kafka import memory
from tooltrail.schemas.kafka.clients import kafka_consumer


def _reader(bootstrap: str, *topics: str) -> AIOKafkaConsumer:
    """A group-less consumer from the beginning, subscribed to ``topics`` if any."""
    return kafka_consumer(
        {"bootstrap_servers": bootstrap},
        *topics,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float = 30.0,
    settle: float = 0.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` until ``until(records)`` holds or ``timeout``; then read ``settle`` more."""
    consumer = _reader(bootstrap, topic)
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        await consumer.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(records):
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        end = time.monotonic() + settle
        while time.monotonic() < end:  # catch duplicates that arrive a little later
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def read_all(
    bootstrap: str, topic: str, *, timeout: float = 30.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on ``topic`` now: read from the beginning up to the end offsets taken at
    the start ([] if the topic does not exist). For topics whose producers have finished
    (closed, exited): nothing can arrive later, so no time is spent waiting for stragglers.
    Fails naming the partitions if the end is not reached within ``timeout``."""
    consumer = _reader(bootstrap)
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        await consumer.start()
        if topic not in await consumer.topics():
            return records
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout
        left = {tp for tp in parts if ends[tp] > 0}
        while left:
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: {sorted(left)} not read to the end in {timeout}s")
            for batch in (await consumer.getmany(*left, timeout_ms=200)).values():
                records.extend(batch)
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return records


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def produce_batch(bootstrap: str, topic: str, partition: int, batch: bytes) -> None:
    """Put one raw record batch (``schemas.kafka.batches.encode_batch``) on a partition, as a
    producer of any language could: the way to carry records aiokafka's producer refuses to
    build (header names that are not UTF-8) to a real broker."""
    if bootstrap.startswith(memory.PREFIX):
        memory.broker(bootstrap.removeprefix(memory.PREFIX)).produce(
            TopicPartition(topic, partition), batch
        )
        return
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.partitions_for(topic)
        node = producer.client.cluster.leader_for_partition(TopicPartition(topic, partition))
        request = ProduceRequest(None, -1, 30_000, [(topic, [(partition, batch)])])
        response = await producer.client.send(node, request)
        (_name, ((_p, error, *_rest),)), *_ = response.topics
        assert error == 0, f"the broker refused the batch: error {error}"
    finally:
        await producer.stop()
