"""``tooltrail bench situations``: the memory and enrich groups under realistic traffic.

``traffic`` (40 namespaces, kube hashes, logs with times, ids and IPs, recurring incidents,
~21 % trouble) is driven through the real producer (``TrailProducer.emit``) at a steady rate
into a memory group and an enrich group running in this process (MiniLM, one embedder and
vector cache shared as in ``worker all``), against a real broker and ``chroma run``. Per rate:
the rate kept (asked, achieved, drained after the last call), freshness p50/p99 per group,
memories and embeddings (model passes) per 1,000 calls, the share of hits saying more than
``ok``, the share of entries repeating a hit, and this process's RSS. The per-call baseline
(before situations: one memory and one embedding text per call) is counted on the same calls.
"""

from __future__ import annotations

import asyncio
import time
import uuid
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
from tooltrail.consumers.app.bench.memory import chroma_for_bench
from tooltrail.consumers.app.bench.traffic import Call, traffic
from tooltrail.consumers.kafka.topics import ensure_topics, pipeline_topics
from tooltrail.consumers.memory.embedders import make_embedder
from tooltrail.consumers.memory.records import embedding_text
from tooltrail.consumers.memory.vector_cache import shared_cache
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.sinks.enrich import EnrichSink
from tooltrail.consumers.sinks.memory import MemorySink
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.emitter import TrailProducer
from tooltrail.schemas.events import Outcome, ToolExecutionEvent
from tooltrail.schemas.records import EnrichmentEntry

DRAIN_TIMEOUT_S = 300.0


class RecordingEnrichSink(EnrichSink):
    """The enrich sink, keeping the entries it computed (to judge the hits).

    A batch is coalesced to one entry per cache key, so entries can be fewer than calls:
    ``keys`` counts the distinct keys of the batches computed, ``calls_covered`` the calls of
    the batches published.
    """

    entries: list[EnrichmentEntry]
    keys = 0
    calls_covered = 0

    def _compute(self, latest: Any, records: Any) -> list[EnrichmentEntry]:
        out = super()._compute(latest, records)
        self.entries = [*getattr(self, "entries", []), *out]
        self.keys += len(latest)
        return out

    async def write(self, batch: list[Any]) -> None:
        await super().write(batch)
        self.calls_covered += len(batch)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _tool_call(call: Call) -> ToolCall:
    outcome = Outcome.OK if call.ok else Outcome.TOOL_ERROR
    return ToolCall(call.tool, call.args, call.session).finish(
        outcome, error=call.error, result=call.result
    )


def _says_more_than_ok(summary_line: str) -> bool:
    _, _, rest = summary_line.partition(": ")
    return not rest.startswith("ok")


def _judge(entries: list[EnrichmentEntry]) -> dict[str, Any]:
    hits = [h for e in entries for h in e.hits]
    repeating = sum(len({h.summary for h in e.hits}) < len(e.hits) for e in entries)
    tools = sum(len({h.tool for h in e.hits}) > 1 for e in entries if e.hits)
    return {
        "entries": len(entries),
        "hits": len(hits),
        "hits_saying_more_than_ok": round(
            sum(map(_says_more_than_ok, (h.summary for h in hits))) / max(len(hits), 1), 3
        ),
        "entries_repeating_a_hit": round(repeating / max(len(entries), 1), 3),
        "entries_across_tools": round(tools / max(len(entries), 1), 3),
    }


def _baseline(calls: list[Call]) -> dict[str, Any]:
    """Before situations: one memory per call, one embedding per distinct call text."""
    settings = TrailProducer.default_settings()
    events: list[ToolExecutionEvent] = [build_event(_tool_call(c), settings) for c in calls]
    texts = {embedding_text(e) for e in events}
    n = max(len(calls), 1)
    return {
        "memories_per_1000": 1000.0,
        "embeddings_per_1000": round(len(texts) * 1000 / n, 1),
    }


async def _one_rate(
    root: Path, bootstrap: str, url: str, rate: int, seconds: int
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    settings = bench_settings(bootstrap, url, "sit")
    await ensure_topics(
        settings.kafka_kwargs(),
        pipeline_topics(settings.events_topic, settings.dlq_topic, settings.enrichment_topic, 3, 1),
    )
    calls = list(traffic(rate * seconds, seed=26 + rate))
    embedder = make_embedder(settings.embedder, settings.embed_threads)
    memory_sink = MemorySink(settings, embedder)
    enrich_sink = RecordingEnrichSink(settings, embedder)
    memory = GroupRunner(settings, settings.memory_group, memory_sink)
    enrich = GroupRunner(settings, settings.enrich_group, enrich_sink)
    cache = shared_cache(settings.embed_cache_size)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in (memory, enrich)]
    try:
        await until(lambda: bool(memory.assigned) and bool(enrich.assigned))
        misses0 = cache.misses if cache else 0
        async with TrailProducer(
            kafka_bootstrap=bootstrap,
            events_topic=settings.events_topic,
            outbox_dir=root / f"outbox-{tag}",
            enable_presearch=False,
        ) as producer:
            await until(lambda: producer.stats().connected)
            t0 = time.perf_counter()
            for i, call in enumerate(calls):
                producer.emit(_tool_call(call))
                await asyncio.sleep(max(t0 + (i + 1) / rate - time.perf_counter(), 0))
            sent_s = time.perf_counter() - t0
            last = time.perf_counter()
            n = len(calls)
            await asyncio.wait_for(
                until(lambda: memory.stats.written >= n and enrich.stats.written >= n, 0.05),
                DRAIN_TIMEOUT_S,
            )
            drained_s = time.perf_counter() - last
        embedded = (cache.misses if cache else 0) - misses0
        stored = await memory_sink.lane.run(
            lambda: memory_sink.store.collection("tool_exec").count()
        )
        rss = _rss_mb()
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    per_k = 1000 / max(len(calls), 1)
    return {
        "rate_asked": rate,
        "calls": len(calls),
        "rate_achieved": round(len(calls) / sent_s, 1),
        "drained_after_last_call_s": round(drained_s, 2),
        "kept_up": drained_s < 5.0,
        "freshness_ms": {
            "memory": summary(list(memory.stats.freshness_ms)),
            "enrich": summary(list(enrich.stats.freshness_ms)),
        },
        "memories_per_1000": round(stored * per_k, 1),
        "embeddings_per_1000": round(embedded * per_k, 1),
        "memory_group_embeddings_per_1000": round(memory_sink.embedded_total * per_k, 1),
        "hits": {
            **_judge(getattr(enrich_sink, "entries", [])),
            "distinct_keys": enrich_sink.keys,
            "calls_covered": enrich_sink.calls_covered,
        },
        "rss_mb": rss,
        "baseline_per_call": _baseline(calls),
    }


async def run(*, quick: bool) -> dict[str, Any]:
    """One run per rate (20 and 50 calls/s; quick: 20 calls/s for 10 s)."""
    plan = [(20, 10)] if quick else [(20, 60), (50, 60)]
    with workdir() as root, kafka_for_bench(root) as bootstrap, chroma_for_bench(root) as url:
        rates = [await _one_rate(root, bootstrap, url, rate, s) for rate, s in plan]
    return {"rates": rates, "machine": machine()}


def lines(result: dict[str, Any]) -> list[str]:
    """The human-readable lines of ``result``."""
    out = []
    for r in result["rates"]:
        fm, fe = r["freshness_ms"]["memory"], r["freshness_ms"]["enrich"]
        h, b = r["hits"], r["baseline_per_call"]
        kept = "kept up" if r["kept_up"] else "FELL BEHIND"
        out += [
            f"{r['rate_asked']} calls/s asked, {r['rate_achieved']} achieved "
            f"({r['calls']} calls): {kept}, drained {r['drained_after_last_call_s']} s "
            "after the last call",
            f"  freshness p50/p99: memory {fm['p50']}/{fm['p99']} ms, "
            f"enrich {fe['p50']}/{fe['p99']} ms",
            f"  per 1,000 calls: {r['memories_per_1000']} memories "
            f"(per call: {b['memories_per_1000']:.0f}), {r['embeddings_per_1000']} embeddings "
            f"(per call: {b['embeddings_per_1000']})",
            f"  hits saying more than ok {h['hits_saying_more_than_ok']:.0%}, entries "
            f"repeating a hit {h['entries_repeating_a_hit']:.0%}, across tools "
            f"{h['entries_across_tools']:.0%}; RSS {r['rss_mb']} MB",
        ]
    return out


def main(*, as_json: bool, quick: bool) -> int:
    """Entry point of ``tooltrail bench situations``."""
    result = asyncio.run(run(quick=quick))
    report(result, as_json, lines(result))
    return 0
