"""``tooltrail bench memory``: the memory group against raw embed + upsert, same run.

* docs/s through the whole group (fetch, decode, summarise, embed, upsert, commit) against
  embedding (the same embedding texts) and upserting the very same summaries directly, in
  batches of the same size;
* freshness p50/p99 (event end → upserted, i.e. searchable) at a steady 20 events/s;
* query p50/p99: embed a short query and fetch the top 3.
Uses ``TOOLTRAIL_KAFKA_BOOTSTRAP`` / ``TOOLTRAIL_CHROMA_URL`` when set, else embedded ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tooltrail.consumers.app.bench.common import (
    bench_settings,
    kafka_for_bench,
    machine,
    report,
    summary,
    until,
    workdir,
)
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.memory.chroma import close_client, open_chroma
from tooltrail.consumers.memory.embedders import make_embedder
from tooltrail.consumers.memory.records import embedding_text, to_memory
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.memory import MemorySink
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.emitter import TrailProducer
from tooltrail.schemas.config import load_settings
from tooltrail.schemas.events import Outcome, ToolExecutionEvent

QUERIES = (
    "pods restarting in payments",
    "etcd health check failing",
    "logs of web pod",
    "scale the api deployment",
    "warning events in openshift-etcd",
)


@contextlib.contextmanager
def chroma_for_bench(root: Path) -> Iterator[str]:
    """``TOOLTRAIL_CHROMA_URL`` if set, else a ``chroma run`` server for the run."""
    if url := load_settings(WorkerSettings).chroma_url:
        yield url
        return
    with ChromaServer(root / "chroma", root / "chroma.log").start() as server:
        yield server.url


def _events(n: int) -> list[ToolExecutionEvent]:
    settings = TrailProducer.default_settings()
    out = []
    for i in range(n):
        tool = ("oc_read_get_pods", "oc_read_logs", "oc_diagnostic_cluster_health")[i % 3]
        call = ToolCall(tool, {"namespace": f"ns-{i % 7}", "pod": f"web-{i}"}, f"sess-{i % 5}")
        failed = i % 4 == 0
        call.finish(
            Outcome.TOOL_ERROR if failed else Outcome.OK,
            error=f"pod web-{i} CrashLoopBackOff" if failed else None,
            result=f"NAME web-{i} READY 1/1 STATUS Running RESTARTS {i % 9}",
        )
        out.append(build_event(call, settings))
    return out


def _raw(settings: WorkerSettings, events: list[ToolExecutionEvent], batch: int) -> float:
    embedder = make_embedder(settings.embedder, settings.embed_threads)
    embedder(["warm up"])
    client = open_chroma(settings)
    try:
        col = client.get_or_create_collection(
            f"{settings.chroma_collection}_raw", embedding_function=None
        )
        records = [to_memory(e) for e in events]
        texts = [embedding_text(e) for e in events]  # what the group embeds
        t0 = time.perf_counter()
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            col.upsert(
                ids=[r.id for r in chunk],
                documents=[r.document for r in chunk],
                embeddings=embedder(texts[start : start + batch]),
                metadatas=[r.metadata for r in chunk],
            )
        return time.perf_counter() - t0
    finally:
        close_client(client)


def _queries(settings: WorkerSettings, rounds: int) -> list[float]:
    embedder = make_embedder(settings.embedder, settings.embed_threads)
    client = open_chroma(settings)
    out = []
    try:
        col = client.get_collection(settings.chroma_collection)
        for i in range(rounds):
            t0 = time.perf_counter()
            col.query(query_embeddings=embedder([QUERIES[i % len(QUERIES)]]), n_results=3)
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        close_client(client)
    return out


async def run(*, quick: bool) -> dict[str, Any]:
    """Run every measurement and return the figures."""
    n, seconds, rate = (60, 4, 20) if quick else (400, 15, 20)
    with workdir() as root, kafka_for_bench(root) as bootstrap, chroma_for_bench(root) as url:
        settings = bench_settings(bootstrap, url, "mem", max_poll_records=100)
        await ensure_topics(settings.kafka_kwargs(), [TopicSpec(settings.events_topic, 3)])
        events = _events(n)
        raw_s = await asyncio.to_thread(_raw, settings, events, settings.max_poll_records)
        embedder = make_embedder(settings.embedder, settings.embed_threads)
        embedder(["warm up"])  # both sides start with a loaded model
        runner = GroupRunner(settings, settings.memory_group, MemorySink(settings, embedder))
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await until(lambda: bool(runner.assigned))  # timing starts with work, not the join
        async with TrailProducer(
            kafka_bootstrap=bootstrap,
            events_topic=settings.events_topic,
            outbox_dir=root / "outbox",
        ) as producer:
            await until(lambda: producer.stats().connected)
            t0 = time.perf_counter()
            for event in events:
                producer.emit(event)
            await until(lambda: runner.stats.written >= n)
            sink_s = time.perf_counter() - t0
            runner.stats.freshness_ms.clear()
            t1 = time.perf_counter()
            for i in range(seconds * rate):
                call = ToolCall("oc_read_get_events", {"namespace": f"ns-{i}"}, "sess-fresh")
                producer.emit(call.finish(Outcome.OK, result="No warning events"))
                await asyncio.sleep(max(t1 + (i + 1) / rate - time.perf_counter(), 0))
            await until(lambda: runner.stats.written >= n + seconds * rate)
        fresh = list(runner.stats.freshness_ms)
        stop.set()
        await task
        queries = await asyncio.to_thread(_queries, settings, 50 if quick else 200)
    return {
        "throughput": {
            "sink_docs_per_s": round(n / sink_s, 1),
            "raw_docs_per_s": round(n / raw_s, 1),
            "ratio": round(raw_s / sink_s, 3),
            "docs": n,
            "embedder": settings.embedder,
        },
        "freshness_ms": {**summary(fresh), "rate_eps": rate, "seconds": seconds},
        "query_ms": summary(queries),
        "machine": machine(),
    }


def main(*, as_json: bool, quick: bool) -> int:
    """Entry point of ``tooltrail bench memory``."""
    r = asyncio.run(run(quick=quick))
    tp, fr, q = r["throughput"], r["freshness_ms"], r["query_ms"]
    report(
        r,
        as_json,
        [
            f"memory group: {tp['sink_docs_per_s']} docs/s vs raw embed+upsert "
            f"{tp['raw_docs_per_s']} docs/s -> ratio {tp['ratio']} "
            f"({tp['docs']} docs, embedder {tp['embedder']})",
            f"freshness at {fr['rate_eps']} ev/s: p50 {fr['p50']} ms  p99 {fr['p99']} ms",
            f"query (embed + top 3): p50 {q['p50']} ms  p99 {q['p99']} ms",
        ],
    )
    return 0
