"""The in-memory Kafka stand-in behaves as the tests that use it rely on: produce, fetch,
offsets, groups and commits, admin, and the helpers that answer for it directly."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import (
    CommitFailedError,
    IllegalOperation,
    KafkaConnectionError,
    MessageSizeTooLargeError,
    UnknownTopicOrPartitionError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import OffsetAndMetadata

from tests.kafka_helpers import wait_for
from tooltrail.consumers.kafka.tansu_compat import broker_identity, looks_like_tansu
from tooltrail.schemas.config import KafkaSettings, load_settings
from tooltrail.schemas.errors import SettingsError
from tooltrail.schemas.kafka import memory, meta
from tooltrail.schemas.kafka.clients import kafka_admin, kafka_consumer, kafka_producer
from tooltrail.schemas.kafka.memory import MemoryBroker, MemoryConsumer, MemoryProducer
from tooltrail.schemas.kafka.meta import no_auto_create_here, topic_ids

T = "events"


def conn(broker: MemoryBroker) -> dict[str, Any]:
    return {"bootstrap_servers": f"memory://{broker.name}", "client_id": "test"}


@pytest.fixture
async def producer(memory_kafka: MemoryBroker) -> AsyncIterator[Any]:
    memory_kafka.create_topic(T, 3)
    p = kafka_producer(conn(memory_kafka), request_timeout_ms=500)
    await p.start()
    yield p
    await p.stop()


def group_consumer(broker: MemoryBroker, group: str = "g", **extra: Any) -> Any:
    return kafka_consumer(
        conn(broker),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **extra,
    )


class Recorder(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: Any = None) -> None:
        self.events: list[tuple[str, set[int]]] = []
        self.consumer = consumer
        self.commit_on_revoke: dict[TopicPartition, int] = {}

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.events.append(("revoked", {tp.partition for tp in revoked}))
        if self.commit_on_revoke:
            await self.consumer.commit(self.commit_on_revoke)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.events.append(("assigned", {tp.partition for tp in assigned}))


# --- selection ------------------------------------------------------------------------------------
async def test_the_factory_builds_in_memory_clients_for_a_memory_bootstrap(
    memory_kafka: MemoryBroker,
) -> None:
    assert isinstance(kafka_producer(conn(memory_kafka)), MemoryProducer)
    assert isinstance(kafka_consumer(conn(memory_kafka), "t"), MemoryConsumer)
    assert memory.broker(memory_kafka.name) is memory_kafka  # one broker per name


def test_a_client_is_built_in_a_running_loop_only_as_with_aiokafka(
    memory_kafka: MemoryBroker,
) -> None:
    with pytest.raises(RuntimeError, match="async function"):
        kafka_producer(conn(memory_kafka))


async def test_an_option_aiokafka_would_refuse_is_refused(memory_kafka: MemoryBroker) -> None:
    with pytest.raises(TypeError):
        kafka_consumer(conn(memory_kafka), group_idd="typo")
    with pytest.raises(TypeError):
        kafka_producer(conn(memory_kafka), fetch_max_wait_ms=5)  # a consumer option


def test_settings_take_a_memory_bootstrap_and_name_a_bad_one() -> None:
    assert KafkaSettings(kafka_bootstrap="memory://t-1").kafka_bootstrap == "memory://t-1"
    with pytest.raises(SettingsError, match="memory://NAME"):
        load_settings(KafkaSettings, kafka_bootstrap="memory://")
    with pytest.raises(SettingsError, match="memory://NAME"):
        load_settings(KafkaSettings, kafka_bootstrap="memory://a b")


def test_reset_forgets_a_broker(memory_kafka: MemoryBroker) -> None:
    memory_kafka.create_topic("x")
    memory.reset(memory_kafka.name)
    assert memory.broker(memory_kafka.name).topic_names() == []


# --- produce and fetch ----------------------------------------------------------------------------
async def test_records_round_trip_with_keys_headers_and_timestamps(
    memory_kafka: MemoryBroker, producer: Any
) -> None:
    futures = [
        await producer.send(T, b"v%d" % i, key=b"k%d" % (i % 4), headers=[("h", b"%d" % i)],
                            timestamp_ms=1_000 + i)
        for i in range(20)
    ]  # fmt: skip
    sent = await asyncio.gather(*futures)
    partitioner = DefaultPartitioner()
    for i, record in enumerate(sent):  # keyed like Kafka's default partitioner
        assert record.partition == partitioner(b"k%d" % (i % 4), [0, 1, 2], [0, 1, 2])
    consumer = kafka_consumer(conn(memory_kafka), T, auto_offset_reset="earliest")
    await consumer.start()
    try:
        got: list[Any] = []
        while len(got) < 20:
            got += [r for rs in (await consumer.getmany(timeout_ms=200)).values() for r in rs]
        for tp in consumer.assignment():
            assert consumer.highwater(tp) == memory_kafka.end_offset(tp)
    finally:
        await consumer.stop()
    by_value = {r.value: r for r in got}
    for i, record in enumerate(sent):
        r = by_value[b"v%d" % i]
        assert (r.partition, r.offset, r.key) == (record.partition, record.offset, b"k%d" % (i % 4))
        assert (r.timestamp, list(r.headers)) == (1_000 + i, [("h", b"%d" % i)])


async def test_sends_made_before_yielding_share_one_batch(
    memory_kafka: MemoryBroker, producer: Any
) -> None:
    futures = [await producer.send(T, b"x", partition=1) for _ in range(5)]
    await asyncio.gather(*futures)
    log = memory_kafka._log(TopicPartition(T, 1))
    assert [(b.base_offset, b.next_offset) for b in log.batches] == [(0, 5)]


async def test_a_built_batch_is_sent_as_one(memory_kafka: MemoryBroker, producer: Any) -> None:
    batch = producer.create_batch()
    for i in range(3):
        assert batch.append(key=None, value=b"%d" % i, timestamp=None, headers=[]) is not None
    batch.close()
    meta = await (await producer.send_batch(batch, T, partition=2))
    assert meta.offset == 0
    assert [r.value for _, r in memory_kafka.records(T)] == [b"0", b"1", b"2"]


async def test_send_refuses_what_aiokafka_refuses(
    memory_kafka: MemoryBroker, producer: Any
) -> None:
    with pytest.raises(AssertionError, match="Need at least one"):
        await producer.send(T, None, key=None)
    with pytest.raises(MessageSizeTooLargeError):
        await producer.send(T, b"x" * 2_000_000)
    memory_kafka.auto_create_partitions = None  # a broker that never creates topics
    with pytest.raises(UnknownTopicOrPartitionError):
        await producer.partitions_for("missing")


async def test_metadata_creates_a_missing_topic_only_when_the_client_allows_it(
    memory_kafka: MemoryBroker,
) -> None:
    p = kafka_producer(conn(memory_kafka), request_timeout_ms=200)
    await p.start()
    try:

        async def allowed() -> None:
            meta._auto_create.set(True)  # whatever this process decided before
            assert await p.partitions_for("auto") == {0}  # Kafka's default: 1 partition

        await asyncio.create_task(allowed())

        async def refused() -> None:
            no_auto_create_here()
            with pytest.raises(UnknownTopicOrPartitionError):
                await p.partitions_for("never")

        await asyncio.create_task(refused())
    finally:
        await p.stop()
    assert memory_kafka.topic_names() == ["auto"]


async def test_positions_seek_pause_and_offsets_for_times(
    memory_kafka: MemoryBroker, producer: Any
) -> None:
    for i in range(6):
        await (await producer.send(T, b"%d" % i, partition=0, timestamp_ms=10_000 + i * 1000))
    tp = TopicPartition(T, 0)
    consumer = kafka_consumer(conn(memory_kafka), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        first = await consumer.getmany(timeout_ms=100, max_records=2)
        assert [r.offset for r in first[tp]] == [0, 1]
        assert await consumer.position(tp) == 2
        consumer.seek(tp, 4)
        assert [r.value for r in (await consumer.getmany(timeout_ms=100))[tp]] == [b"4", b"5"]
        consumer.pause(tp)
        consumer.seek(tp, 0)
        assert await consumer.getmany(timeout_ms=50) == {}
        consumer.resume(tp)
        assert len((await consumer.getmany(timeout_ms=100))[tp]) == 6
        found = await consumer.offsets_for_times({tp: 12_500})
        assert found[tp] is not None
        assert (found[tp].offset, found[tp].timestamp) == (3, 13_000)
        assert (await consumer.offsets_for_times({tp: 99_000}))[tp] is None  # as Kafka
        assert await consumer.end_offsets([tp]) == {tp: 6}
        with pytest.raises(IllegalOperation):
            await consumer.commit()  # no group
    finally:
        await consumer.stop()


async def test_a_producer_on_another_thread_wakes_a_waiting_consumer(
    memory_kafka: MemoryBroker,
) -> None:
    memory_kafka.create_topic(T, 1)
    consumer = kafka_consumer(conn(memory_kafka), T, auto_offset_reset="earliest")
    await consumer.start()

    def produce_elsewhere() -> None:
        async def run() -> None:
            p = kafka_producer(conn(memory_kafka))
            await p.start()
            await (await p.send(T, b"from another loop"))
            await p.stop()

        asyncio.run(run())

    try:
        waiting = asyncio.create_task(consumer.getmany(timeout_ms=10_000))
        await asyncio.sleep(0)
        thread = threading.Thread(target=produce_elsewhere)
        thread.start()
        got = await asyncio.wait_for(waiting, 5)
        thread.join()
    finally:
        await consumer.stop()
    assert [r.value for rs in got.values() for r in rs] == [b"from another loop"]


# --- groups ---------------------------------------------------------------------------------------
async def test_members_share_partitions_and_a_leaver_hands_them_over(
    memory_kafka: MemoryBroker,
) -> None:
    memory_kafka.create_topic(T, 4)
    a, b = group_consumer(memory_kafka), group_consumer(memory_kafka)
    la, lb = Recorder(a), Recorder(b)
    a.subscribe([T], listener=la)
    b.subscribe([T], listener=lb)
    await a.start()
    try:
        await a.getmany(timeout_ms=10)  # waits for the assignment, as aiokafka's does
        assert len(a.assignment()) == 4
        await b.start()
        await wait_for(lambda: len(a.assignment()) == 2 == len(b.assignment()), 5, "a split")
        assert {tp.partition for tp in a.assignment() | b.assignment()} == {0, 1, 2, 3}
        assert ("revoked", {0, 1, 2, 3}) in la.events  # a gave all up when b joined
        await b.stop()
        await wait_for(lambda: len(a.assignment()) == 4, 5, "a to own every partition")
    finally:
        await a.stop()
        await b.stop()


async def test_commits_survive_a_member_and_a_stale_generation_cannot_commit(
    memory_kafka: MemoryBroker, producer: Any
) -> None:
    for i in range(9):
        await producer.send(T, b"%d" % i, partition=i % 3)
    await producer.flush()
    a = group_consumer(memory_kafka)
    rec = Recorder(a)
    a.subscribe([T], listener=rec)
    await a.start()
    tp0 = TopicPartition(T, 0)
    try:
        await a.getmany(timeout_ms=200)
        await a.commit({tp0: 2, TopicPartition(T, 1): OffsetAndMetadata(1, "")})
        assert await a.committed(tp0) == 2
        rec.commit_on_revoke = {TopicPartition(T, 2): 3}  # commits from the revoke callback
        b = group_consumer(memory_kafka)
        b.subscribe([T])
        await b.start()
        await wait_for(lambda: a.assignment() and b.assignment(), 5, "both members assigned")
        assert memory_kafka.committed("g", TopicPartition(T, 2)) == 3
        stale = a.membership.generation - 1
        with memory_kafka.lock, pytest.raises(CommitFailedError):
            a.membership.group.commit(a.membership.member_id, stale, {tp0: 9})
        await b.stop()
    finally:
        await a.stop()
    c = group_consumer(memory_kafka)
    c.subscribe([T])
    await c.start()
    try:  # a new member resumes where the group committed
        got: dict[int, list[int]] = {}
        while sum(len(v) for v in got.values()) < 3:
            for tp, rs in (await c.getmany(timeout_ms=200)).items():
                got.setdefault(tp.partition, []).extend(r.offset for r in rs)
        assert await c.getmany(timeout_ms=100) == {}
    finally:
        await c.stop()
    assert got == {0: [2], 1: [1, 2]}


async def test_a_group_less_commit_is_refused_while_the_group_has_members(
    memory_kafka: MemoryBroker,
) -> None:
    memory_kafka.create_topic(T, 1)
    member = group_consumer(memory_kafka)
    member.subscribe([T])
    loner = group_consumer(memory_kafka)
    await member.start()
    await loner.start()
    try:
        loner.assign([TopicPartition(T, 0)])
        with pytest.raises(CommitFailedError):
            await loner.commit({TopicPartition(T, 0): 1})
    finally:
        await member.stop()
        await loner.stop()


# --- admin and helpers ----------------------------------------------------------------------------
async def test_admin_answers_with_kafka_error_codes(memory_kafka: MemoryBroker) -> None:
    admin = kafka_admin(conn(memory_kafka))
    await admin.start()
    try:
        first = await admin.create_topics([NewTopic("a", 2, 1, topic_configs={"x": "y"})])
        again = await admin.create_topics([NewTopic("a", 2, 1), NewTopic("b", 1, 1)])
        assert first.topic_errors == [("a", 0, None)]
        assert [(n, c) for n, c, _ in again.topic_errors] == [("a", 36), ("b", 0)]
        assert sorted(await admin.list_topics()) == ["a", "b"]
        assert memory_kafka.topic_configs("a") == {"x": "y"}
        offsets = await admin.list_consumer_group_offsets("g", partitions=[TopicPartition("a", 0)])
        assert offsets == {TopicPartition("a", 0): OffsetAndMetadata(-1, "")}
        deleted = await admin.delete_topics(["b", "zz"])
        assert deleted.topic_error_codes == [("b", 0), ("zz", 3)]
    finally:
        await admin.close()


async def test_topic_ids_and_the_tansu_check_answer_for_an_in_memory_client(
    memory_kafka: MemoryBroker, producer: Any
) -> None:
    first = await topic_ids(producer.client, [T, "missing"])
    assert first["missing"] is None
    assert first[T] is not None
    assert len(first[T]) == 16
    memory_kafka.recreate_topic(T)
    assert (await topic_ids(producer.client, [T]))[T] not in (None, first[T])
    identity = await broker_identity(producer.client, 1.0)
    assert not looks_like_tansu(identity)
    memory_kafka.faults.go_down()
    with pytest.raises(KafkaConnectionError):
        await topic_ids(producer.client, [T])
