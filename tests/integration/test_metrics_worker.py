"""The metrics group against a real broker: bad input to the DLQ, disk failures, no duplicates."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.kafka_helpers import read_topic, wait_for
from tooltrail.consumers.kafka.dlq import read_dead_letter
from tooltrail.consumers.kafka.offsets import gather_stats
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.metrics import MetricsSink, segments
from tooltrail.consumers.sinks.metrics_export import export
from tooltrail.producer.emitter import TrailProducer
from tooltrail.schemas import MetricRecord, decode, encode

pytestmark = pytest.mark.integration


def worker_settings(kafka: KafkaEndpoint, names: Names, metrics_dir: Path) -> WorkerSettings:
    return WorkerSettings(
        kafka_bootstrap=kafka.bootstrap,
        events_topic=names.events,
        dlq_topic=names.dlq,
        enrichment_topic=names.enrichment,
        metrics_group=names.group,
        metrics_dir=metrics_dir,
        topic_partitions=3,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        retry_backoff_initial_s=0.2,
        retry_backoff_max_s=0.5,
    )


def metric_lines(directory: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for p in segments(directory) for line in p.read_bytes().splitlines()]


@contextlib.asynccontextmanager
async def running(runner: GroupRunner) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_bad_messages_go_to_the_dlq_and_good_ones_are_written(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    settings = worker_settings(kafka, names, tmp_path / "metrics")
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
    good = [make_event() for _ in range(50)]
    wrong_schema = orjson.dumps({"schemaVersion": 2, "toolId": 42, "eventId": "x"})
    future = orjson.loads(encode(make_event()))
    future["schemaVersion"] = 9
    bad = [
        b"\x00\xffgarbage",
        b'{"truncated": ',
        wrong_schema,
        orjson.dumps(future),
        b"[" + b"1," * 700_000 + b"1]",
    ]
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, max_request_size=3_000_000)
    await producer.start()
    try:
        for i, event in enumerate(good):
            await producer.send(names.events, encode(event), key=b"k")
            if i % 10 == 0:
                await producer.send(names.events, bad[i // 10], key=b"k")
        await producer.flush()
    finally:
        await producer.stop()

    runner = GroupRunner(settings, names.group, MetricsSink(settings.metrics_dir, 10**7))
    async with running(runner):
        await wait_for(
            lambda: runner.stats.written == 50 and runner.stats.dead_lettered == 5,
            30,
            "50 written and 5 dead letters",
        )
    lines = metric_lines(settings.metrics_dir)
    assert sorted(str(r["eventId"]) for r in lines) == sorted(e.event_id for e in good)
    dead = await read_topic(kafka.bootstrap, names.dlq, until=lambda r: len(r) >= 5)
    letters = [read_dead_letter(r) for r in dead]
    reasons = " | ".join(sorted(d.error for d in letters))
    assert len(letters) == 5
    assert "not valid JSON" in reasons
    assert "toolId" in reasons
    assert "newer than this reader" in reasons
    assert "over the 1048576-byte limit" in reasons
    assert {d.group for d in letters} == {names.group}
    assert all(d.source_topic == names.events and d.source_offset >= 0 for d in letters)
    stats = await gather_stats(settings.kafka_kwargs(), names.events, names.dlq, [names.group])
    assert stats["groups"][names.group]["lag"] == 0  # committed past the bad ones
    assert stats["dlq"]["messages"] == 5


async def test_unwritable_directory_pauses_without_commit_then_resumes(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the metrics directory should be")
    settings = worker_settings(kafka, names, blocker / "metrics")
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
    events = [make_event() for _ in range(200)]
    async with TrailProducer(
        kafka_bootstrap=kafka.bootstrap, events_topic=names.events, outbox_dir=tmp_path / "ob"
    ) as producer:
        for event in events:
            producer.emit(event)
    runner = GroupRunner(settings, names.group, MetricsSink(settings.metrics_dir, 10**7))
    async with running(runner):
        await wait_for(lambda: runner.stats.retries >= 2, 30, "the sink to fail and retry")
        assert runner.stats.written == 0
        assert runner.stats.last_error is not None
        assert "Not a directory" in runner.stats.last_error
        stats = await gather_stats(settings.kafka_kwargs(), names.events, names.dlq, [names.group])
        assert stats["groups"][names.group]["lag"] == 200  # nothing committed while failing
        blocker.unlink()  # the operator fixes the disk
        await wait_for(lambda: runner.stats.written == 200, 30, "the backlog to be written")
    written = sorted(str(r["eventId"]) for r in metric_lines(settings.metrics_dir))
    assert written == sorted(e.event_id for e in events)


async def test_redelivery_and_restart_never_duplicate_and_export_is_seed_shaped(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    settings = worker_settings(kafka, names, tmp_path / "metrics").model_copy(
        update={"max_poll_records": 50}  # small batches: several segments of 20 kB
    )
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
    events = [make_event() for _ in range(300)]
    async with TrailProducer(
        kafka_bootstrap=kafka.bootstrap, events_topic=names.events, outbox_dir=tmp_path / "ob"
    ) as producer:
        for event in events + events[:100]:  # the producer resent 100 (at least once)
            producer.emit(event)
    first = GroupRunner(settings, names.group, MetricsSink(settings.metrics_dir, 20_000))
    async with running(first):
        await wait_for(lambda: first.stats.consumed == 400, 30, "400 deliveries")
    # a new group over the same directory re-reads everything: the sink's window dedupes
    again = settings.model_copy(update={"metrics_group": names.group + "-b"})
    second = GroupRunner(again, again.metrics_group, MetricsSink(again.metrics_dir, 20_000))
    async with running(second):
        await wait_for(lambda: second.stats.consumed == 400, 30, "400 re-deliveries")
    lines = metric_lines(settings.metrics_dir)
    assert len(lines) == 300
    assert len(segments(settings.metrics_dir)) > 1  # rotated by size
    out = tmp_path / "export" / "metrics.json"
    assert export(settings.metrics_dir, out) == 300
    exported = orjson.loads(out.read_bytes())
    assert [decode(orjson.dumps(r), MetricRecord).event_id for r in exported] == [
        r["eventId"] for r in lines
    ]
    assert list(out.parent.iterdir()) == [out]  # no temp file left behind
