"""``tooltrail bench emit``: what the producer costs a tool server, against what it replaced.

Measured in one run, on the same machine:
* ``emit`` p50/p99 with the broker up and with it unreachable (spill path);
* the baseline: the older middleware's inline write per call (read-modify-write of a JSON
  array file plus a Chroma ``add``);
* ``emit`` into a full accumulator (the overflow path: drop and count);
* what instrumenting an MCP server costs, tooltrail against the SDK's own OpenTelemetry, on
  the mcp SDK and fastmcp (``bench/overhead.py``: p50, p99, p99.9, max, CPU per call);
* sustained throughput to the broker against a raw aiokafka send loop of the same events;
* a 10x burst with the broker down: queue and outbox stay within their bounds;
* the redaction cost of building one event (``emit_redaction``), against the previous
  redaction engine in paired rounds.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from tooltrail.consumers.app.bench import emit_redaction, overhead
from tooltrail.consumers.app.bench.common import (
    kafka_for_bench,
    machine,
    report,
    summary,
    until,
    workdir,
)
from tooltrail.consumers.app.bench.emit_redaction import redaction_cost
from tooltrail.consumers.app.launcher import free_port
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.memory.chroma import close_client
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.emitter import TrailProducer
from tooltrail.schemas.codec import encode
from tooltrail.schemas.events import Outcome, ToolExecutionEvent
from tooltrail.schemas.kafka.clients import kafka_producer


def _call(i: int) -> ToolCall:
    call = ToolCall(
        "oc_read_get_pods",
        {"namespace": "payments", "selector": f"app=web-{i % 50}"},
        f"sess-{i % 16}",
    )
    return call.finish(Outcome.OK, result={"content": [{"type": "text", "text": "3 pods Running"}]})


async def _emit_latencies(producer: TrailProducer, n: int) -> list[float]:
    calls = [_call(i) for i in range(n)]
    out: list[float] = []
    clock = time.perf_counter_ns
    for start in range(0, n, 200):
        for call in calls[start : start + 200]:
            t0 = clock()
            producer.emit(call)
            out.append((clock() - t0) / 1000)
        await asyncio.sleep(0.002)  # tool calls arrive over time; let the sender drain
    return out


def _inline_baseline(root: Path, n: int) -> list[float]:
    """The older middleware per call: rewrite the whole JSON array, then a Chroma add."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    import chromadb

    client = chromadb.PersistentClient(path=str(root / "chroma"))
    collection = client.get_or_create_collection("inline_baseline", embedding_function=None)
    path = root / "metrics.json"
    path.write_bytes(b"[]")
    vector = [0.01 * (i % 7) for i in range(384)]
    out: list[float] = []
    try:
        for i in range(n):
            event = build_event(_call(i), TrailProducer.default_settings())
            t0 = time.perf_counter_ns()
            records = orjson.loads(path.read_bytes())
            records.append(event.model_dump(mode="json", by_alias=True))
            path.write_bytes(orjson.dumps(records))
            collection.add(
                ids=[f"{event.session_id}_{int(time.time() * 1000)}_{i}"],
                embeddings=[vector],  # type: ignore[arg-type]
                documents=[event.result_summary or ""],
            )
            out.append((time.perf_counter_ns() - t0) / 1000)
    finally:
        close_client(client)
    return out


def _overflow(n: int) -> dict[str, Any]:
    """``emit`` into a full accumulator: the call is dropped and counted, nothing else."""
    producer = TrailProducer(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", queue_size=1, outbox_dir=Path(os.devnull)
    )
    call = _call(0)
    producer.emit(call)  # the accumulator is now full (the producer is never started)
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = clock()
        producer.emit(call)
        samples.append((clock() - t0) / 1000)
    dropped = producer.stats().dropped.get("queue_full", 0)
    producer.close(0)
    return {**summary(samples), "dropped": dropped}


async def _throughput(root: Path, bootstrap: str, n: int) -> dict[str, Any]:
    settings = TrailProducer.default_settings()
    events: list[ToolExecutionEvent] = [build_event(_call(i), settings) for i in range(n)]
    topic_raw, topic_ours = (
        f"bench.raw.{uuid.uuid4().hex[:8]}",
        f"bench.ours.{uuid.uuid4().hex[:8]}",
    )
    await ensure_topics(
        {"bootstrap_servers": bootstrap}, [TopicSpec(topic_raw, 6), TopicSpec(topic_ours, 6)]
    )
    raw = kafka_producer(
        {"bootstrap_servers": bootstrap},
        acks="all",
        compression_type="lz4",
        linger_ms=5,
        max_batch_size=65_536,
        enable_idempotence=False,
    )
    await raw.start()
    t0 = time.perf_counter()
    try:
        for start in range(0, n, 5000):
            chunk = events[start : start + 5000]
            futures = [
                await raw.send(topic_raw, encode(e), key=e.session_id.encode()) for e in chunk
            ]
            await asyncio.gather(*futures)
    finally:
        raw_s = time.perf_counter() - t0
        await raw.stop()
    ours = TrailProducer(
        kafka_bootstrap=bootstrap,
        events_topic=topic_ours,
        queue_size=n,
        outbox_dir=root / "throughput-outbox",
    )
    ours.start()
    await until(lambda: ours.stats().connected)
    t0 = time.perf_counter()
    for event in events:
        ours.emit(event)
    await until(lambda: ours.stats().sent + ours.stats().spilled >= n)
    taken_s = time.perf_counter() - t0  # every event acknowledged or safe in the outbox
    await until(lambda: ours.stats().sent + ours.stats().resent >= n)  # all on the broker
    ours_s = time.perf_counter() - t0
    stats = ours.stats()
    await ours.aclose(10)
    return {
        "raw_aiokafka_eps": round(n / raw_s),
        "tooltrail_eps": round(n / ours_s),
        "ratio": round(raw_s / ours_s, 3),
        "events": n,
        "spilled": stats.spilled,
        "acked_or_spilled_eps": round(n / taken_s),
    }


#: Interleaved rounds of the SDK comparison (``--rounds`` overrides) and calls per round.
ROUNDS, QUICK_ROUNDS, CALLS, QUICK_CALLS = 7, 2, 2000, 300


async def _sdk_overhead(
    root: Path, bootstrap: str, quick: bool, rounds: int | None = None
) -> dict[str, Any]:
    """Both SDKs against OpenTelemetry with an OTLP/gRPC exporter to a loopback receiver."""
    calls = QUICK_CALLS if quick else CALLS
    rounds = rounds or (QUICK_ROUNDS if quick else ROUNDS)
    out: dict[str, Any] = {}
    with overhead.otlp_receiver() as (port, received):
        for sdk in ("mcp", "fastmcp"):
            topic = TopicSpec(f"bench.overhead.{sdk}", 6)
            await ensure_topics({"bootstrap_servers": bootstrap}, [topic])
            out[sdk] = await overhead.measure(
                sdk, bootstrap, root, rounds=rounds, calls=calls, otlp_port=port
            )
    out["otlp_spans_received"] = received[0] if received else None
    return out


def _goal(sdk_overhead: dict[str, Any]) -> dict[str, bool]:
    """Per SDK and broker state: added p50, p99 and CPU each at most OpenTelemetry + OTLP's."""
    out = {}
    for sdk in ("mcp", "fastmcp"):
        v = sdk_overhead[sdk]["variants"]
        peer = v["otel_otlp"]
        for state in ("tooltrail_up", "tooltrail_down"):
            ours = v[state]
            out[f"{sdk}/{state}"] = all(
                ours[k] <= peer[k] for k in ("added_p50_us", "added_p99_us", "added_cpu_us")
            )
    return out


def _rss_kb() -> int:
    """Current resident memory of this process (Linux), in kB."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * resource.getpagesize() // 1024


def _burst(root: Path, queue_size: int) -> dict[str, Any]:
    rss0 = _rss_kb()
    producer = TrailProducer(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        queue_size=queue_size,
        outbox_dir=root / "burst",
        outbox_max_bytes=1_000_000,
        outbox_segment_bytes=100_000,
    )
    burst = 10 * queue_size
    for i in range(burst):
        producer.emit(_call(i))
    s = producer.stats()
    producer.close(0)
    return {
        "burst": burst,
        "queue_size": queue_size,
        "queue_depth": s.queue_depth,
        "outbox_bytes": s.outbox_bytes,
        "outbox_max_bytes": 1_000_000,
        "spilled": s.spilled,
        "dropped": s.dropped_total,
        "accounted": s.queue_depth + s.spilled + s.dropped_total == burst,
        "rss_growth_kb": _rss_kb() - rss0,
    }


async def run(*, quick: bool, rounds: int | None = None) -> dict[str, Any]:
    """Run every measurement and return the figures (``rounds``: of the SDK comparison)."""
    n_emit, n_inline, n_tp = (2000, 50, 5000) if quick else (20_000, 300, 50_000)
    redaction = redaction_cost(quick=quick)  # CPU only: before the broker and its threads start
    with workdir() as root, kafka_for_bench(root) as bootstrap:
        topic = f"bench.emit.{uuid.uuid4().hex[:8]}"
        await ensure_topics({"bootstrap_servers": bootstrap}, [TopicSpec(topic, 6)])
        up = TrailProducer(kafka_bootstrap=bootstrap, events_topic=topic, outbox_dir=root / "up")
        up.start()
        await until(lambda: up.stats().connected)
        emit_up = await _emit_latencies(up, n_emit)
        await up.aclose(10)
        down = TrailProducer(
            kafka_bootstrap=f"127.0.0.1:{free_port()}",
            outbox_dir=root / "down",
            request_timeout_ms=500,
        ).start()
        emit_down = await _emit_latencies(down, n_emit)
        await down.aclose(5)
        inline = _inline_baseline(root, n_inline)
        result: dict[str, Any] = {
            "emit_us": {"broker_up": summary(emit_up), "broker_down": summary(emit_down)},
            "inline_baseline_us": summary(inline),
            "overflow_us": _overflow(n_emit),
            "sdk_overhead": (sdks := await _sdk_overhead(root, bootstrap, quick, rounds)),
            "otlp_spans_received": sdks.pop("otlp_spans_received"),
            "throughput": await _throughput(root, bootstrap, n_tp),
            "burst_10x": _burst(root, 1000),
            "redaction_us": redaction,
            "machine": machine(),
        }
    result["goal_at_most_otel_otlp"] = _goal(result["sdk_overhead"])
    worst_p50 = max(result["emit_us"]["broker_up"]["p50"], result["emit_us"]["broker_down"]["p50"])
    result["ratio_inline_over_emit_p50"] = round(result["inline_baseline_us"]["p50"] / worst_p50)
    return result


def main(*, as_json: bool, quick: bool, rounds: int | None = None) -> int:
    """Entry point of ``tooltrail bench emit`` (``rounds``: of the SDK comparison)."""
    r = asyncio.run(run(quick=quick, rounds=rounds))
    up, down, inline = (
        r["emit_us"]["broker_up"],
        r["emit_us"]["broker_down"],
        r["inline_baseline_us"],
    )
    tp, b, o = r["throughput"], r["burst_10x"], r["overflow_us"]
    lines = [
        f"emit of a call (builds its record on the caller), broker up:  p50 {up['p50']} us"
        f"  p99 {up['p99']} us  (n={up['n']})",
        f"emit of a call (builds its record on the caller), broker down: p50 {down['p50']} us"
        f"  p99 {down['p99']} us  (spill path)",
        f"inline baseline:        p50 {inline['p50']} us  p99 {inline['p99']} us  "
        "(JSON rewrite + Chroma add)",
        f"  -> emit is {r['ratio_inline_over_emit_p50']}x cheaper at p50",
        f"emit into a full queue:  p50 {o['p50']} us  p99 {o['p99']} us  (dropped and counted:"
        f" {o['dropped']})",
        *(
            line
            for sdk in ("mcp", "fastmcp")
            for line in overhead.lines(sdk, r["sdk_overhead"][sdk])
        ),
        f"  spans received by the loopback OTLP receiver: {r['otlp_spans_received']}",
        "goal (added p50, p99, CPU <= OTel + OTLP): "
        + ", ".join(
            f"{k} {'met' if ok else 'NOT met'}" for k, ok in r["goal_at_most_otel_otlp"].items()
        ),
        f"throughput: tooltrail {tp['tooltrail_eps']} ev/s vs raw aiokafka "
        f"{tp['raw_aiokafka_eps']} ev/s -> ratio {tp['ratio']}",
        f"10x burst (broker down): queue {b['queue_depth']}/{b['queue_size']}, outbox "
        f"{b['outbox_bytes']}/{b['outbox_max_bytes']} B, dropped {b['dropped']}, "
        f"all accounted: {b['accounted']}",
        *emit_redaction.lines(r["redaction_us"]),
    ]
    report(r, as_json, lines)
    return 0
