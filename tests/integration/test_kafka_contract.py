"""One scenario, two brokers: what the runner and sender tests rely on in the in-memory
stand-in is what a real broker (Tansu, or ``KAFKA_BOOTSTRAP``) does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic

from tests.conftest import KafkaEndpoint
from tests.kafka_helpers import produce_batch
from tooltrail.schemas.kafka import memory
from tooltrail.schemas.kafka.batches import RawRecord, encode_batch
from tooltrail.schemas.kafka.clients import kafka_admin, kafka_consumer, kafka_producer
from tooltrail.schemas.kafka.guard import unreadable_reason
from tooltrail.schemas.kafka.memory import MemoryConsumer
from tooltrail.schemas.kafka.meta import topic_ids


@pytest.fixture(params=["memory", pytest.param("real", marks=pytest.mark.integration)])
async def bootstrap(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if request.param == "real":
        endpoint: KafkaEndpoint = request.getfixturevalue("kafka")
        yield endpoint.bootstrap
        return
    name = f"contract-{uuid.uuid4().hex[:8]}"
    yield f"memory://{name}"
    memory.reset(name)


async def create(bootstrap: str, topic: str, partitions: int) -> list[tuple[str, int]]:
    admin = kafka_admin({"bootstrap_servers": bootstrap})
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    return [(name, code) for name, code, *_ in response.topic_errors]


def member(bootstrap: str, topic: str, group: str) -> Any:
    consumer = kafka_consumer(
        {"bootstrap_servers": bootstrap},
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=20,
    )
    consumer.subscribe([topic])
    return consumer


async def drain(consumer: Any, count: int, timeout: float = 20.0) -> list[Any]:
    got: list[Any] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            got += [r for rs in (await consumer.getmany(timeout_ms=100)).values() for r in rs]
    return got


async def test_records_groups_and_commits_behave_alike(bootstrap: str) -> None:
    topic, group = f"c-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    assert await create(bootstrap, topic, 3) == [(topic, 0)]
    assert await create(bootstrap, topic, 3) == [(topic, 36)]
    producer = kafka_producer({"bootstrap_servers": bootstrap}, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic, b"v%d" % i, key=b"k%d" % (i % 5), headers=[("n", b"%d" % i)],
                timestamp_ms=1_700_000_000_000 + i,
            )
            for i in range(30)
        ]  # fmt: skip
        sent = {(m.partition, m.offset): i for i, m in enumerate(await asyncio.gather(*futures))}
    finally:
        await producer.stop()
    first = member(bootstrap, topic, group)
    await first.start()
    try:
        got = await drain(first, 30)
        for r in got:
            i = sent[r.partition, r.offset]
            assert (r.key, r.value, list(r.headers)) == (
                b"k%d" % (i % 5),
                b"v%d" % i,
                [("n", b"%d" % i)],
            )
            assert r.timestamp == 1_700_000_000_000 + i
        tps = {TopicPartition(topic, p) for p in range(3)}
        assert first.assignment() == tps
        await first.commit(dict.fromkeys(tps, 1))
        assert await first.committed(TopicPartition(topic, 0)) == 1
    finally:
        await first.stop()
    again = member(bootstrap, topic, group)
    await again.start()
    try:  # a new member resumes at the commits
        assert len(await drain(again, 27)) == 27
    finally:
        await again.stop()


def unguarded(bootstrap: str) -> Any:
    """A consumer as aiokafka makes it, without the fetch guard of the client factory."""
    options: dict[str, Any] = {
        "group_id": None,
        "enable_auto_commit": False,
        "fetch_max_wait_ms": 20,
        "bootstrap_servers": bootstrap,
    }
    if bootstrap.startswith(memory.PREFIX):
        return MemoryConsumer(memory.broker(bootstrap.removeprefix(memory.PREFIX)), **options)
    return AIOKafkaConsumer(**options)


async def test_hostile_records_do_to_a_consumer_what_they_do_on_kafka(bootstrap: str) -> None:
    topic = f"h-{uuid.uuid4().hex[:8]}"
    await create(bootstrap, topic, 1)
    tp = TopicPartition(topic, 0)
    await produce_batch(bootstrap, topic, 0, encode_batch([RawRecord(None, None)]))
    hostile = [RawRecord(b"k", b"ok"), RawRecord(b"k", b"bad", [(b"\xff\xfe", b"x")])]
    await produce_batch(bootstrap, topic, 0, encode_batch(hostile, compression="gzip"))
    await produce_batch(bootstrap, topic, 0, encode_batch([RawRecord(b"k", b"after")]))
    reader = unguarded(bootstrap)
    await reader.start()
    try:
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        (tombstone,) = (await reader.getmany(tp, timeout_ms=2000, max_records=1))[tp]
        assert (tombstone.key, tombstone.value) == (None, None)
        for _ in range(3):  # the good record before it is read and lost every time
            with pytest.raises(UnicodeDecodeError):
                await fetch_until_it_fails(reader, tp)
            assert await reader.position(tp) == 1
    finally:
        await reader.stop()
    guarded = kafka_consumer(
        {"bootstrap_servers": bootstrap},
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await guarded.start()
    try:  # what the client factory builds reads past it, the bad record marked
        guarded.assign([tp])
        got: list[Any] = []
        async with asyncio.timeout(10):
            while len(got) < 4:
                got += (await guarded.getmany(tp, timeout_ms=200)).get(tp, [])
    finally:
        await guarded.stop()
    assert [(r.offset, r.value, unreadable_reason(r)) for r in got] == [
        (0, None, None),
        (1, b"ok", None),
        (2, b"bad", "kafka: 1 header name(s) of the record are not UTF-8"),
        (3, b"after", None),
    ]


async def fetch_until_it_fails(reader: Any, tp: TopicPartition) -> None:
    async with asyncio.timeout(10):
        while True:
            await reader.getmany(tp, timeout_ms=200)


async def test_a_recreated_topic_has_a_new_id(bootstrap: str) -> None:
    topic = f"r-{uuid.uuid4().hex[:8]}"
    await create(bootstrap, topic, 1)
    producer = kafka_producer({"bootstrap_servers": bootstrap})
    admin = kafka_admin({"bootstrap_servers": bootstrap})
    await producer.start()
    await admin.start()
    try:
        before = (await topic_ids(producer.client, [topic]))[topic]
        await admin.delete_topics([topic])
        assert (await topic_ids(producer.client, [topic]))[topic] is None
        await admin.create_topics([NewTopic(topic, 1, 1)])
        after = (await topic_ids(producer.client, [topic]))[topic]
        assert None not in (before, after)
        assert before != after
    finally:
        await admin.close()
        await producer.stop()
