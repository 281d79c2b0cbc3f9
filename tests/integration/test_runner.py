"""The runner on a real broker with the in-memory sink: rejections, hangs, commits."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.integration.test_metrics_worker import running
from tests.kafka_helpers import read_topic, wait_for
from tests.reliability.test_outages import produce
from tooltrail.consumers.kafka.dlq import read_dead_letter
from tooltrail.consumers.kafka.offsets import gather_stats
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.inmemory import InMemorySink

pytestmark = pytest.mark.integration


def settings_for(kafka: KafkaEndpoint, names: Names, **extra: object) -> WorkerSettings:
    return WorkerSettings(
        kafka_bootstrap=kafka.bootstrap,
        events_topic=names.events,
        dlq_topic=names.dlq,
        enrichment_topic=names.enrichment,
        status_topic=names.events + ".status",
        topic_partitions=3,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        retry_backoff_initial_s=0.1,
        retry_backoff_max_s=0.3,
        kafka_timeout_s=5,
        lag_interval_s=1,
        **extra,
    )


async def test_events_a_sink_rejects_are_dead_lettered_and_the_rest_committed(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    settings = settings_for(kafka, names)
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
    sink = InMemorySink(reject=lambda e: e.tool_id == "oc_poison")
    sink.unavailable = 2  # and the sink is down at first: retried, not blamed on events
    runner = GroupRunner(settings, names.group, sink)
    good = [make_event() for _ in range(47)]
    bad = [make_event(tool_id="oc_poison") for _ in range(3)]
    async with running(runner):
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
        await producer.start()
        try:
            for event in good[:20] + bad + good[20:]:
                await producer.send(
                    names.events,
                    event.model_dump_json(by_alias=True).encode(),
                    key=b"same-partition",
                )
            await producer.flush()
        finally:
            await producer.stop()
        await wait_for(
            lambda: len(sink.written) == 47 and runner.stats.rejected == 3,
            30,
            "47 written and 3 rejected",
        )
        await wait_for(lambda: sum(runner.stats.lag().values()) == 0, 30, "everything committed")
    assert set(sink.written) == {e.event_id for e in good}
    assert runner.stats.retries >= 2
    letters = [
        read_dead_letter(r)
        for r in await read_topic(kafka.bootstrap, names.dlq, until=lambda r: len(r) >= 3)
    ]
    assert len(letters) == 3
    assert all(d.error.startswith("sink:inmemory: SinkError: refused event") for d in letters)
    assert {d.error.rsplit(" ", 1)[1] for d in letters} == {e.event_id for e in bad}
    stats = await gather_stats(settings.kafka_kwargs(), names.events, names.dlq, [names.group])
    assert stats["groups"][names.group]["lag"] == 0


async def test_stop_during_a_hung_write_leaves_within_the_grace_and_commits_nothing_of_it(
    kafka: KafkaEndpoint, names: Names
) -> None:
    settings = settings_for(kafka, names, shutdown_grace_s=3)
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
    sink = InMemorySink()
    sink.hang = asyncio.Event()
    runner = GroupRunner(settings, names.group, sink)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await produce(kafka.bootstrap, names.events, 10)
        await wait_for(lambda: sink.writes >= 1, 30, "a write to hang")
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, 10)
        took = time.monotonic() - started
    finally:
        sink.hang.set()
        stop.set()
    assert took < 3
    assert sink.written == {}
    assert sink.closed
    stats = await gather_stats(settings.kafka_kwargs(), names.events, names.dlq, [names.group])
    assert stats["groups"][names.group]["lag"] == 10  # nothing committed past the hung batch
