"""Offsets and lag as ``tooltrail stats`` reads them, on the in-memory stand-in."""

from __future__ import annotations

from aiokafka import TopicPartition

from tooltrail.consumers.kafka.offsets import gather_stats
from tooltrail.schemas.kafka.batches import RawRecord
from tooltrail.schemas.kafka.clients import kafka_consumer
from tooltrail.schemas.kafka.memory import MemoryBroker


async def test_lag_is_never_negative_even_for_a_commit_past_the_end(
    memory_kafka: MemoryBroker,
) -> None:
    kwargs = {"bootstrap_servers": f"memory://{memory_kafka.name}"}
    memory_kafka.create_topic("ev", 2)
    memory_kafka.create_topic("dlq", 1)
    memory_kafka.append("ev", [RawRecord(b"k", b"v")] * 10, partition=0)
    memory_kafka.append("ev", [RawRecord(b"k", b"v")] * 4, partition=1)
    memory_kafka.append("dlq", [RawRecord(b"k", b"v")] * 3, partition=0)
    committer = kafka_consumer(kwargs, group_id="g", enable_auto_commit=False)
    await committer.start()
    try:  # 50 on a partition holding 10: a topic created again under its group
        await committer.commit({TopicPartition("ev", 0): 50, TopicPartition("ev", 1): 1})
    finally:
        await committer.stop()
    stats = await gather_stats(kwargs, "ev", "dlq", ["g", "never-committed"])
    rows = stats["groups"]["g"]["partitions"]
    assert [(r["committed"], r["highwater"], r["lag"]) for r in rows] == [(50, 10, 0), (1, 4, 3)]
    assert stats["groups"]["g"]["lag"] == 3
    assert stats["groups"]["never-committed"]["lag"] == 14
    assert stats["dlq"]["messages"] == 3


async def test_stats_read_past_a_record_no_consumer_could_read(memory_kafka: MemoryBroker) -> None:
    kwargs = {"bootstrap_servers": f"memory://{memory_kafka.name}"}
    memory_kafka.create_topic("ev", 1)
    memory_kafka.create_topic("dlq", 1)
    memory_kafka.append("ev", [RawRecord(b"k", b"v"), RawRecord(b"k", b"v", [(b"\xff", b"")])])
    stats = await gather_stats(kwargs, "ev", "dlq", ["g"])
    assert stats["groups"]["g"]["partitions"][0]["highwater"] == 2
