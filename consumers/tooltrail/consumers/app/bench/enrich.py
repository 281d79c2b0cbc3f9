"""``tooltrail bench enrich``: the tool server's lookup against the old inline search.

* lookup p50/p99 (µs) in a cache holding 100k keys, key computation included;
* the old middleware's way, measured in the same run: a new Chroma client per call, embed
  the call's text, top-3 query (model loaded once, to be kind to the baseline);
* staleness: event end → its key's entry visible in *another process's* cache, at 20 ev/s.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tooltrail.consumers.app.bench.cache_memory import entry_memory
from tooltrail.consumers.app.bench.common import (
    bench_settings,
    kafka_for_bench,
    machine,
    report,
    summary,
    workdir,
)
from tooltrail.consumers.app.bench.memory import chroma_for_bench
from tooltrail.consumers.kafka.topics import ensure_topics, pipeline_topics
from tooltrail.consumers.memory.chroma import close_client, open_chroma
from tooltrail.consumers.memory.embedders import make_embedder
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.enrich import EnrichSink
from tooltrail.producer.calls import ToolCall
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.enrichment import EnrichmentCache
from tooltrail.schemas.config import load_settings
from tooltrail.schemas.events import Outcome
from tooltrail.schemas.keys import cache_key
from tooltrail.schemas.records import EnrichmentEntry, EnrichmentHit

FOLLOWER = """
import sys, time
from tooltrail.producer.enrichment import EnrichmentCache
from tooltrail.producer.settings import ProducerSettings
class Printing(EnrichmentCache):
    def apply(self, key, entry):
        super().apply(key, entry)
        print(key, time.time(), flush=True)
Printing(ProducerSettings(kafka_bootstrap=sys.argv[1], enrichment_topic=sys.argv[2])).start()
sys.stdin.read()
"""


def _lookups(n_keys: int, rounds: int) -> list[float]:
    cache = EnrichmentCache(
        TrailProducer.default_settings().model_copy(update={"enrichment_max_entries": n_keys})
    )
    hit = EnrichmentHit(
        id="tool-exec_s_20261123T000000000Z_0123456789",
        summary="pods crashloop",
        distance=0.2,
        kind="failure",
        timestamp=datetime.now(UTC),
    )
    for i in range(n_keys):
        key = cache_key("oc_read_get_pods", {"namespace": f"ns-{i}", "pod": f"web-{i % 97}"})
        entry = EnrichmentEntry(
            key=key,
            tool_id="oc_read_get_pods",
            hits=(hit,),
            computed_at=datetime.now(UTC),
            source_event_id="e",
        )
        cache.apply(key, entry)
    out = []
    for r in range(rounds):
        args = {
            "namespace": f"ns-{(r * 7919) % n_keys}",
            "pod": f"web-{((r * 7919) % n_keys) % 97}",
        }
        t0 = time.perf_counter_ns()
        cache.lookup("oc_read_get_pods", args)
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def _inline(url: str, collection: str, rounds: int) -> list[float]:
    settings = load_settings(WorkerSettings)
    embedder = make_embedder(settings.embedder, settings.embed_threads)
    embedder(["warm up"])
    settings = settings.model_copy(update={"chroma_url": url})
    setup = open_chroma(settings)
    try:
        col = setup.get_or_create_collection(collection, embedding_function=None)
        docs = [f"oc_read_get_pods tool_error: pod web-{i} CrashLoopBackOff" for i in range(200)]
        col.upsert(ids=[f"m{i}" for i in range(200)], documents=docs, embeddings=embedder(docs))
    finally:
        close_client(setup)
    out = []
    for r in range(rounds):
        t0 = time.perf_counter_ns()
        client = open_chroma(settings)  # the old middleware built a client per call
        try:
            client.get_collection(collection).query(
                query_embeddings=embedder([f"oc_read_get_pods namespace=ns-{r}"]), n_results=3
            )
        finally:
            close_client(client)
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


async def _staleness(root: Path, bootstrap: str, url: str, seconds: int, rate: int) -> list[float]:
    key = secrets.token_hex(32)  # the enrich group signs, the follower verifies
    settings = bench_settings(bootstrap, url, "enrich", enrichment_key=key)
    await ensure_topics(
        settings.kafka_kwargs(),
        pipeline_topics(settings.events_topic, settings.dlq_topic, settings.enrichment_topic, 3, 1),
    )
    argv = [sys.executable, "-c", FOLLOWER, bootstrap, settings.enrichment_topic]
    follower = subprocess.Popen(  # noqa: ASYNC220 - started once, read in a worker thread
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "TOOLTRAIL_ENRICHMENT_KEY": key},
    )
    embedder = make_embedder(settings.embedder, settings.embed_threads)
    runner = GroupRunner(settings, settings.enrich_group, EnrichSink(settings, embedder))
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    ended: dict[str, float] = {}
    try:
        while not runner.assigned:  # noqa: ASYNC110 - set by the runner's rebalance listener
            await asyncio.sleep(0.05)
        async with TrailProducer(
            kafka_bootstrap=bootstrap,
            events_topic=settings.events_topic,
            outbox_dir=root / "outbox",
            enable_presearch=False,
        ) as producer:
            t0 = time.perf_counter()
            for i in range(seconds * rate):
                args = {"namespace": f"ns-{i}"}
                call = ToolCall("oc_read_get_events", args, "sess-stale").finish(
                    Outcome.OK, result="ok"
                )
                producer.emit(call)
                ended[cache_key("oc_read_get_events", args)] = time.time()
                await asyncio.sleep(max(t0 + (i + 1) / rate - time.perf_counter(), 0))
        seen = await asyncio.to_thread(_read_follower, follower, set(ended), 60.0)
    finally:
        follower.kill()
        follower.wait()
        stop.set()
        await task
    return [(seen[k] - ended[k]) * 1000 for k in seen]


def _read_follower(
    proc: subprocess.Popen[bytes], keys: set[str], timeout: float
) -> dict[str, float]:
    seen: dict[str, float] = {}
    if proc.stdout is None:
        return seen
    deadline = time.monotonic() + timeout
    while len(seen) < len(keys) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        key, _, stamp = line.decode().strip().rpartition(" ")
        if key in keys and key not in seen:
            seen[key] = float(stamp)
    return seen


async def run(*, quick: bool) -> dict[str, Any]:
    """Run every measurement and return the figures."""
    keys, rounds, inline_rounds, seconds = (
        (10_000, 20_000, 10, 3) if quick else (100_000, 200_000, 50, 10)
    )
    lookups = _lookups(keys, rounds)
    memory = entry_memory(2_000 if quick else 20_000)
    with workdir() as root, kafka_for_bench(root) as bootstrap, chroma_for_bench(root) as url:
        inline = await asyncio.to_thread(
            _inline, url, f"bench_inline_{uuid.uuid4().hex[:8]}", inline_rounds
        )
        stale = await _staleness(root, bootstrap, url, seconds, 20)
    look, base = summary(lookups), summary(inline)
    return {
        "lookup_us": {**look, "keys": keys},
        "inline_search_us": base,
        "ratio_inline_over_lookup_p50": round(base["p50"] / look["p50"]),
        "staleness_ms": {**summary(stale), "rate_eps": 20, "expected": seconds * 20},
        "cache_entry_bytes": memory,
        "ratio_pydantic_over_compact": round(memory["pydantic"] / memory["compact"], 1),
        "machine": machine(),
    }


def main(*, as_json: bool, quick: bool) -> int:
    """Entry point of ``tooltrail bench enrich``."""
    r = asyncio.run(run(quick=quick))
    lk, base, st = r["lookup_us"], r["inline_search_us"], r["staleness_ms"]
    mem = r["cache_entry_bytes"]
    report(
        r,
        as_json,
        [
            f"lookup ({lk['keys']} keys cached): p50 {lk['p50']} us  p99 {lk['p99']} us",
            f"inline search (new client + embed + top 3): p50 {base['p50']} us  "
            f"p99 {base['p99']} us",
            f"  -> lookup is {r['ratio_inline_over_lookup_p50']}x faster at p50",
            f"staleness at {st['rate_eps']} ev/s (other process): p50 {st['p50']} ms  "
            f"p99 {st['p99']} ms ({st['n']}/{st['expected']} keys seen)",
            f"cache entry (3 hits, tracemalloc): {mem['compact']} B compact (counted "
            f"{mem['counted']} B), {mem['pydantic']} B as pydantic, {mem['wire']} B on the wire"
            f"  -> {r['ratio_pydantic_over_compact']}x smaller",
        ],
    )
    return 0
