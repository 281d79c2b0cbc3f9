"""``tooltrail bench metrics``: the metrics group against a raw consume loop, same run.

* sustained events/s from the topic to durable JSON Lines (the whole runner: decode, write,
  fsync, commit) against a raw aiokafka ``getmany`` loop over the same topic;
* freshness p50/p99 (event end → record durable) while events arrive at a steady 1k/s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from tooltrail.consumers.app.bench.common import (
    kafka_for_bench,
    machine,
    report,
    summary,
    until,
    workdir,
)
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.metrics import MetricsSink
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.emitter import TrailProducer
from tooltrail.schemas.codec import encode
from tooltrail.schemas.config import load_settings
from tooltrail.schemas.events import Outcome
from tooltrail.schemas.kafka.clients import kafka_consumer, kafka_producer


def _payloads(n: int) -> list[tuple[bytes, bytes]]:
    settings = TrailProducer.default_settings()
    out = []
    for i in range(n):
        call = ToolCall("oc_read_get_pods", {"namespace": f"ns-{i % 40}"}, f"sess-{i % 32}")
        event = build_event(call.finish(Outcome.OK, result="3 pods Running"), settings)
        out.append((event.session_id.encode(), encode(event)))
    return out


async def _fill(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> None:
    producer = kafka_producer(
        {"bootstrap_servers": bootstrap},
        linger_ms=5,
        max_batch_size=262_144,
        compression_type="lz4",
        enable_idempotence=False,
    )
    await producer.start()
    try:
        for start in range(0, len(payloads), 5000):
            chunk = payloads[start : start + 5000]
            futures = [await producer.send(topic, v, key=k) for k, v in chunk]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _raw_loop(bootstrap: str, topic: str, n: int) -> float:
    consumer = kafka_consumer(
        {"bootstrap_servers": bootstrap},
        topic,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        seen, t0 = 0, time.perf_counter()
        while seen < n:
            seen += sum(len(b) for b in (await consumer.getmany(timeout_ms=200)).values())
        return time.perf_counter() - t0
    finally:
        await consumer.stop()


async def run(*, quick: bool) -> dict[str, Any]:
    """Run both measurements and return the figures."""
    n, seconds, rate = (5000, 3, 1000) if quick else (50_000, 8, 1000)
    with workdir() as root, kafka_for_bench(root) as bootstrap:
        tag = uuid.uuid4().hex[:8]
        settings = load_settings(
            WorkerSettings,
            kafka_bootstrap=bootstrap,
            events_topic=f"bench.metrics.{tag}",
            dlq_topic=f"bench.dlq.{tag}",
            enrichment_topic=f"bench.enrich.{tag}",
            metrics_group=f"bench-{tag}",
            metrics_dir=root / "metrics",
            topic_partitions=6,
            session_timeout_ms=3000,
            heartbeat_interval_ms=500,
            max_poll_records=5000,
        )
        await ensure_topics(settings.kafka_kwargs(), [TopicSpec(settings.events_topic, 6)])
        await _fill(bootstrap, settings.events_topic, _payloads(n))
        raw_s = await _raw_loop(bootstrap, settings.events_topic, n)
        sink = MetricsSink(settings.metrics_dir, settings.metrics_segment_bytes)
        runner = GroupRunner(settings, settings.metrics_group, sink)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await until(lambda: runner.stats.consumed > 0)  # the group has joined
        t0 = time.perf_counter()
        await until(lambda: runner.stats.written >= n)
        ours_s = time.perf_counter() - t0
        fresh = await _freshness(root, bootstrap, settings, runner, n, seconds, rate)
        stop.set()
        await task
    return {
        "throughput": {
            "metrics_writer_eps": round(n / ours_s),
            "raw_consume_eps": round(n / raw_s),
            "ratio": round(raw_s / ours_s, 3),
            "events": n,
        },
        "freshness_ms": {**summary(fresh), "rate_eps": rate, "seconds": seconds},
        "machine": machine(),
    }


async def _freshness(
    root: Path,
    bootstrap: str,
    settings: WorkerSettings,
    runner: GroupRunner,
    already: int,
    seconds: int,
    rate: int,
) -> list[float]:
    runner.stats.freshness_ms.clear()
    async with TrailProducer(
        kafka_bootstrap=bootstrap, events_topic=settings.events_topic, outbox_dir=root / "outbox"
    ) as producer:
        await until(lambda: producer.stats().connected)  # steady state, not the first connect
        t0 = time.perf_counter()
        for i in range(seconds * rate):
            call = ToolCall("oc_read_logs", {"pod": f"web-{i}"}, f"sess-{i % 8}")
            producer.emit(call.finish(Outcome.OK, result="ok"))
            await asyncio.sleep(max(t0 + (i + 1) / rate - time.perf_counter(), 0))
    await until(lambda: runner.stats.written >= already + seconds * rate)
    return list(runner.stats.freshness_ms)


def main(*, as_json: bool, quick: bool) -> int:
    """Entry point of ``tooltrail bench metrics``."""
    r = asyncio.run(run(quick=quick))
    tp, fr = r["throughput"], r["freshness_ms"]
    report(
        r,
        as_json,
        [
            f"metrics writer: {tp['metrics_writer_eps']} ev/s to fsynced JSON Lines vs raw getmany "
            f"{tp['raw_consume_eps']} ev/s -> ratio {tp['ratio']} ({tp['events']} events)",
            f"freshness at {fr['rate_eps']} ev/s: p50 {fr['p50']} ms  p99 {fr['p99']} ms  "
            f"(n={fr['n']})",
        ],
    )
    return 0
