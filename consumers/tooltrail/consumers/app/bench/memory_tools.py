"""``tooltrail bench memory-tools``: what an agent's ``memory_search`` costs, against its floor.

* A collection seeded with situations (the shared contract's metadata) over four scopes, the
  tool server's one of them.
* Baseline, in the same run: the floor of any search, i.e. embed the query and one scoped
  Chroma query, with the client and the model already warm.
* ``memory_search`` through the official SDK's in-memory client: JSON-RPC, validation, the
  deadline thread, hits made distinct, cleaned and redacted. The first call (connect and model
  load) is reported apart; then p50/p99 with queries interleaved with the baseline's.
* ``memory_get_stats`` and a no-op tool's round trip through the same client (the SDK's share).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from tooltrail.consumers.app.bench.common import machine, median, report, summary, workdir
from tooltrail.consumers.app.bench.memory import chroma_for_bench
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.memory_reader import Scope
from tooltrail.producer.memory_settings import MemoryToolSettings
from tooltrail.producer.memory_tools import add_memory_tools
from tooltrail.schemas.config import load_settings
from tooltrail.schemas.vectors.chroma import close_client, open_client
from tooltrail.schemas.vectors.embedders import embedder_id, make_embedder

REASONS = (
    "java.lang.OutOfMemoryError: Java heap space",
    "Back-off restarting failed container in CrashLoopBackOff",
    "0/6 nodes are available: insufficient memory",
    "Failed to pull image: manifest unknown",
    "Readiness probe failed: connection refused",
    "x509: certificate has expired or is not yet valid",
    "dial tcp: lookup db.svc.cluster.local: no such host",
    "The node was low on resource: ephemeral-storage",
    "Liveness probe failed: HTTP probe failed with statuscode: 503",
    "OOMKilled: container exceeded its memory limit",
    "error: deployment exceeded its progress deadline",
    "PersistentVolumeClaim is not bound",
)
QUERIES = (
    "payments api pod crashlooping after OOMKilled",
    "image pull fails for the new release",
    "certificate expired on the ingress",
    "pods pending, not enough memory on nodes",
    "database host name does not resolve",
    "readiness probe refused connections",
    "disk pressure evicted pods",
    "rollout stuck past its deadline",
)
SCOPES = (("prod", "openshift"), ("dev", "openshift"), ("prod", "network"), ("dev", "network"))


def _seed(url: str, settings: MemoryToolSettings, n: int) -> None:
    embedder = make_embedder(settings.embedder, settings.embed_threads)
    docs, metas = [], []
    for i in range(n):
        environment, domain = SCOPES[i % len(SCOPES)]
        salient = f"{REASONS[i % len(REASONS)]} (ns-{i % 40}/app-{i % 17})"
        docs.append(f"{salient}\npod app-{i % 17}-7d9f8c6b5-{i:05d} in ns-{i % 40}")
        metas.append(
            {
                "schema": "situation/1",
                "kind": "failure",
                "environment": environment,
                "domain": domain,
                "tenant": "",
                "tool": ("oc_read_logs", "oc_read_get_pods", "oc_read_events")[i % 3],
                "outcome": "tool_error",
                "severity": "error",
                "opType": "read",
                "signature": salient,
                "salient": salient,
                "occurrences": 1 + i % 9,
                "sessions": 1 + i % 4,
                "firstSeen": "2026-12-01T10:00:00.000Z",
                "lastSeen": "2026-12-06T09:00:00.000Z",
                "ts": 1765011600000,
            }
        )
    client = open_client(url)
    try:
        col = client.get_or_create_collection(
            settings.chroma_collection,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedder": embedder_id(embedder), "tooltrail": "memory/1"},
        )
        for start in range(0, n, 64):
            part = slice(start, start + 64)
            col.upsert(
                ids=[f"sit-bench-{i}" for i in range(n)][part],
                documents=docs[part],
                metadatas=metas[part],
                embeddings=list(embedder(docs[part])),
            )
    finally:
        close_client(client)


def _direct(url: str, settings: MemoryToolSettings) -> Any:
    """The floor: a warm embedder and client, one scoped query per search."""
    embedder = make_embedder(settings.embedder, settings.embed_threads)
    client = open_client(url, timeout=settings.memory_tools_timeout_s)
    col = client.get_collection(settings.chroma_collection)
    where = Scope(*SCOPES[0]).where()

    def search(query: str) -> None:
        col.query(
            query_embeddings=[embedder([query])[0]],
            n_results=20,
            where=where,
            include=["documents", "metadatas", "distances"],
        )

    search("warm up")
    return search, client


#: A tool server of its own process, with the memory tools and a tool reporting its RSS.
SERVER = """
import sys
from mcp.server.mcpserver import MCPServer
from tooltrail.producer import TrailProducer
from tooltrail.producer.memory_tools import add_memory_tools
trail = TrailProducer(kafka_bootstrap="memory://rss", outbox_dir=sys.argv[1],
                      enable_presearch=False, environment="prod", domain="openshift")
server = MCPServer("rss", log_level="WARNING")
add_memory_tools(server, trail)
@server.tool()
def rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024
server.run("stdio")
"""


async def _server_rss(root: Path, url: str, collection: str) -> dict[str, float]:
    """RSS of a tool server process: started, after one ``memory_search``, after ten more."""
    import os
    import sys

    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import get_default_environment, stdio_client

    env = {
        **get_default_environment(),
        **{k: v for k, v in os.environ.items() if k.startswith("TOOLTRAIL_")},
        "TOOLTRAIL_CHROMA_URL": url,
        "TOOLTRAIL_CHROMA_COLLECTION": collection,
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-c", SERVER, str(root / "rss-outbox")], env=env
    )
    out: dict[str, float] = {}
    with (root / "rss-server.log").open("w") as err:
        async with stdio_client(params, errlog=err) as (r, w), ClientSession(r, w) as session:
            await session.initialize()

            async def rss() -> float:
                res = await session.call_tool("rss_mb", {})
                return round(float((res.structured_content or {})["result"]), 1)

            out["started_mb"] = await rss()
            await session.call_tool("memory_search", {"query": QUERIES[0]})
            out["after_first_search_mb"] = await rss()
            for query in QUERIES[1:] * 2:
                await session.call_tool("memory_search", {"query": query})
            out["after_more_searches_mb"] = await rss()
    return out


async def run(root: Path, url: str, *, quick: bool) -> dict[str, Any]:
    """Seed, then measure the baseline and the tools interleaved."""
    import mcp
    from mcp.server.mcpserver import MCPServer

    n, rounds = (60, 12) if quick else (400, 120)
    settings = load_settings(
        MemoryToolSettings, chroma_url=url, chroma_collection=f"bench_tools_{uuid.uuid4().hex[:8]}"
    )
    _seed(url, settings, n)
    trail = TrailProducer(
        kafka_bootstrap="memory://bench-memory-tools",
        outbox_dir=root / "outbox",
        enable_presearch=False,
        environment=SCOPES[0][0],
        domain=SCOPES[0][1],
    )
    server = MCPServer("bench", log_level="WARNING")
    tools = add_memory_tools(server, trail, settings)

    @server.tool()
    def noop(query: str) -> str:
        """Return the query (the SDK's own round trip)."""
        return query

    search, client = _direct(url, settings)
    out: dict[str, list[float]] = {"direct": [], "search": [], "stats": [], "noop": []}
    hits: list[int] = []
    try:
        async with mcp.Client(server) as session:
            t0 = time.perf_counter()
            first = await session.call_tool("memory_search", {"query": QUERIES[0]})
            cold_ms = (time.perf_counter() - t0) * 1000
            assert not first.is_error, first.content  # noqa: S101 - a broken run has no figures
            for r in range(rounds):
                query = QUERIES[r % len(QUERIES)]
                t0 = time.perf_counter()
                search(query)
                out["direct"].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                res = await session.call_tool("memory_search", {"query": query, "k": 5})
                out["search"].append((time.perf_counter() - t0) * 1000)
                hits.append(len((res.structured_content or {}).get("hits", [])))
                for name, args in (("memory_get_stats", {}), ("noop", {"query": query})):
                    t0 = time.perf_counter()
                    await session.call_tool(name, args)
                    out[name.removeprefix("memory_get_")].append((time.perf_counter() - t0) * 1000)
    finally:
        close_client(client)
        tools.close()
        trail.close(timeout=1)
    rss = await _server_rss(root, url, settings.chroma_collection)
    return {
        "machine": machine(),
        "tool_server_rss": rss,
        "memories": n,
        "scopes": len(SCOPES),
        "embedder": settings.embedder,
        "first_search_ms": round(cold_ms, 3),
        "direct_ms": summary(out["direct"]),
        "search_ms": summary(out["search"]),
        "stats_ms": summary(out["stats"]),
        "noop_ms": summary(out["noop"]),
        "ratio_search_over_direct_p50": round(median(out["search"]) / median(out["direct"]), 2),
        "hits_per_search_p50": median(hits),
    }


def main(*, as_json: bool, quick: bool) -> int:
    """Entry point of ``tooltrail bench memory-tools``."""
    with workdir() as root, chroma_for_bench(root) as url:
        r = asyncio.run(run(root, url, quick=quick))
    d, s, st, no = r["direct_ms"], r["search_ms"], r["stats_ms"], r["noop_ms"]
    report(
        r,
        as_json,
        [
            f"{r['memories']} situations over {r['scopes']} scopes, embedder {r['embedder']}",
            f"first memory_search (connect + model load): {r['first_search_ms']} ms",
            f"direct (embed + one scoped query, warm): p50 {d['p50']} ms  p99 {d['p99']} ms",
            f"memory_search via the SDK client: p50 {s['p50']} ms  p99 {s['p99']} ms  "
            f"({r['ratio_search_over_direct_p50']}x the direct query at p50; "
            f"{r['hits_per_search_p50']} hits)",
            f"memory_get_stats: p50 {st['p50']} ms  p99 {st['p99']} ms",
            f"no-op tool via the same client: p50 {no['p50']} ms",
            "tool server RSS (own process): started {started_mb} MB, after the first search "
            "{after_first_search_mb} MB, after 14 more {after_more_searches_mb} MB".format(
                **r["tool_server_rss"]
            ),
        ],
    )
    return 0
