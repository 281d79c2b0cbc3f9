"""Records hostile at the Kafka layer become dead letters on a real broker, never losses.

A metrics group reads valid events interleaved with records whose dead letter used to be
impossible to send — no key and no value (aiokafka asserts), 550,000 empty headers (1.1 MB
of framing), a 900 KB key, headers named like ours — and with a plain keyed tombstone.
Every valid event is written once, every other record is dead-lettered once with its
reason and what had to change, and the group commits to the end.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.kafka_helpers import read_topic, wait_for
from tooltrail.consumers.kafka.dlq import read_dead_letter
from tooltrail.consumers.kafka.offsets import gather_stats
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.metrics import MetricsSink, segments
from tooltrail.schemas import encode

pytestmark = pytest.mark.integration
HOSTILE = 5


async def _produce(bootstrap: str, topic: str) -> list[str]:
    """Valid events around each hostile record, all on partition 0; the valid ids."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4_000_000)
    await producer.start()
    valid: list[str] = []

    async def events(n: int) -> None:
        for _ in range(n):
            event = make_event()
            valid.append(event.event_id)
            await producer.send_and_wait(topic, encode(event), key=b"s", partition=0)

    try:
        await events(10)
        batch = producer.create_batch()  # send() refuses a record with neither key nor value
        batch.append(key=None, value=None, timestamp=None)
        await (await producer.send_batch(batch, topic, partition=0))
        await events(10)
        empties = [("", b"")] * 550_000
        await producer.send_and_wait(topic, b"not json", key=b"h", partition=0, headers=empties)
        await events(10)
        await producer.send_and_wait(topic, b"{}", key=b"k" * 900_000, partition=0)
        await events(10)
        ours = [("error", b"theirs"), ("group", b"x"), ("trace", b"t")]
        await producer.send_and_wait(topic, b"[1]", key=b"o", partition=0, headers=ours)
        await events(10)
        await producer.send_and_wait(topic, None, key=b"tombstone", partition=0)
        await events(10)
    finally:
        await producer.stop()
    return valid


async def test_kafka_layer_poison_is_dead_lettered_and_costs_no_valid_neighbour(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    settings = WorkerSettings(
        kafka_bootstrap=kafka.bootstrap,
        events_topic=names.events,
        dlq_topic=names.dlq,
        enrichment_topic=names.enrichment,
        metrics_group=names.group,
        metrics_dir=tmp_path / "metrics",
        topic_partitions=1,
        session_timeout_ms=3000,
        heartbeat_interval_ms=500,
        retry_backoff_initial_s=0.2,
        retry_backoff_max_s=0.5,
    )
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 1)])
    valid = await _produce(kafka.bootstrap, names.events)
    runner = GroupRunner(settings, names.group, MetricsSink(settings.metrics_dir, 10**7))
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await wait_for(
            lambda: runner.stats.written == len(valid) and runner.stats.dead_lettered == HOSTILE,
            90,
            "every valid event written and every other record dead-lettered",
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    lines = [line for p in segments(settings.metrics_dir) for line in p.read_bytes().splitlines()]
    assert sorted(orjson.loads(line)["eventId"] for line in lines) == sorted(valid)
    records = await read_topic(kafka.bootstrap, names.dlq, until=lambda r: len(r) >= HOSTILE)
    letters = {read_dead_letter(r).source_offset: (r, read_dead_letter(r)) for r in records}
    assert len(records) == len(letters) == HOSTILE  # each once
    by_kind = {dict(r.headers).get("value-null"): d for r, d in letters.values()}
    assert by_kind[b"1"].error == "message has no value (tombstone)"
    headers = [dict(r.headers) for r, _ in letters.values()]
    assert any(h.get("headers-dropped") == b"550000" for h in headers)
    assert any(h.get("key-truncated") == b"900000" for h in headers)
    assert any(h.get("original-error") == b"theirs" and h.get("trace") == b"t" for h in headers)
    assert all(d.group == names.group and d.error for _, d in letters.values())
    stats = await gather_stats(settings.kafka_kwargs(), names.events, names.dlq, [names.group])
    assert stats["groups"][names.group]["lag"] == 0
