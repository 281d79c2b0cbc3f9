"""The memory tools over real stdio, driven by each SDK's own client, against a real Chroma.

The example servers (producer/examples/*_memory_server.py) are started as a user starts them.
Chroma holds situations (the shared contract's metadata) and older per-call memories, of the
server's scope and of others: a search must find its own scope's situation, never another
scope's, and never two copies of one situation; the stats tool counts; with Chroma down both
tools answer cleanly; and stdout carries nothing but JSON-RPC, the lazy model load included.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.schemas.vectors.chroma import close_client, open_client
from tooltrail.schemas.vectors.embedders import embedder_id, make_embedder

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "producer" / "examples"
SERVER = {"mcp": "mcp_memory_server.py", "fastmcp": "fastmcp_memory_server.py"}
HERE = {"environment": "prod", "domain": "openshift"}
OOM = "java.lang.OutOfMemoryError: Java heap space in payments-api"
CRASH = "oc_read_get_pods tool_error: Back-off restarting failed container web in CrashLoopBackOff"


def _situation(sid: str, salient: str, tool: str, **scope: str) -> tuple[str, str, dict[str, Any]]:
    meta: dict[str, Any] = {
        "schema": "situation/1",
        "kind": "failure",
        **HERE,
        **scope,
        "tenant": "",
        "tool": tool,
        "outcome": "tool_error",
        "severity": "error",
        "opType": "read",
        "signature": salient[:200],
        "salient": salient,
        "occurrences": 7,
        "sessions": 3,
        "firstSeen": "2026-12-01T10:00:00.000Z",
        "lastSeen": "2026-12-06T09:00:00.000Z",
        "firstTs": 1764583200000,
        "lastTs": 1765011600000,
        "ts": 1765011600000,
        "eventIds": '["e1","e2"]',
        "exampleArgs": '{"namespace":"payments"}',
    }
    return sid, f"{salient}\npod payments-api-7d9f8c6b5-x2x9q restarted 7 times", meta


def _per_call(i: int) -> tuple[str, str, dict[str, Any]]:
    """An old per-call memory (no ``schema``): the same call in three sessions."""
    meta = {
        "kind": "failure",
        **HERE,
        "tool": "oc_read_get_pods",
        "severity": "error",
        "opType": "read",
        "outcome": "tool_error",
        "sessionId": f"session-{i}",
        "timestamp": f"2026-12-05T08:00:0{i}.000Z",
        "ts": 1764921600000 + i,
        "eventId": f"ev-{i}",
        "elapsedMs": 3.0,
    }
    return f"failure-old-{i}", f"{CRASH}\nnamespace=payments\n[read; 3 ms; session-{i}]", meta


SEEDS = [
    _situation("sit-oom-here", OOM, "oc_read_logs"),
    _situation("sit-oom-dev", OOM + " DEV-ONLY", "oc_read_logs", environment="dev"),
    _situation("sit-oom-other", OOM + " OTHER-DOMAIN", "oc_read_logs", domain="network"),
    _situation("sit-events", "Warning FailedScheduling 0/6 nodes available", "oc_read_events"),
    *[_per_call(i) for i in range(3)],
]
IN_SCOPE = 5  # sit-oom-here, sit-events and the three per-call memories


def _seed(chroma: ChromaServer, collection: str, embedder_kind: str) -> None:
    embedder = make_embedder(embedder_kind)
    client = open_client(chroma.url)
    try:
        col = client.get_or_create_collection(
            collection,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"embedder": embedder_id(embedder), "tooltrail": "memory/1"},
        )
        col.upsert(
            ids=[s[0] for s in SEEDS],
            documents=[s[1] for s in SEEDS],
            metadatas=[s[2] for s in SEEDS],
            embeddings=list(embedder([s[1] for s in SEEDS])),
        )
    finally:
        close_client(client)


def _env(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path, chroma_url: str, embedder: str
) -> dict[str, str]:
    return {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "TOOLTRAIL_EVENTS_TOPIC": names.events,
        "TOOLTRAIL_ENRICHMENT_TOPIC": names.enrichment,
        "TOOLTRAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "TOOLTRAIL_ENVIRONMENT": HERE["environment"],
        "TOOLTRAIL_DOMAIN": HERE["domain"],
        "TOOLTRAIL_CHROMA_URL": chroma_url,
        "TOOLTRAIL_CHROMA_COLLECTION": names.collection,
        "TOOLTRAIL_EMBEDDER": embedder,
        "TOOLTRAIL_MEMORY_TOOLS_TIMEOUT_S": "20",  # the first search loads the model
        "FASTMCP_LOG_LEVEL": "WARNING",
    }


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("oc_read_get_pods", {"namespace": "payments"}),
    ("oc_read_get_pods", {"namespace": "checkout"}),
    ("memory_search", {"query": "payments api pod OutOfMemoryError heap", "k": 10}),
    ("memory_search", {"query": "pods restarting crashloop", "tool": "oc_read_get_pods"}),
    ("memory_search", {"query": "x" * 2000}),
    ("memory_get_stats", {}),
]


Calls = list[tuple[str, dict[str, Any]]]


async def _with_mcp(
    script: str, env: dict[str, str], errlog: Path, calls: Calls = CALLS
) -> list[tuple[bool, Any]]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=[script], env=env)
    out = []
    with errlog.open("w") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            for name, args in calls:
                res = await session.call_tool(name, args)
                out.append((bool(res.is_error), _payload(res)))
    return out


async def _with_fastmcp(
    script: str, env: dict[str, str], errlog: Path, calls: Calls = CALLS
) -> list[tuple[bool, Any]]:
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    # keep_alive (fastmcp's default) leaves the server running after the client's exit: its
    # events unflushed, and its process still running when the test's loop closes
    transport = StdioTransport(
        command=sys.executable, args=[script], env=env, log_file=errlog, keep_alive=False
    )
    out = []
    async with Client(transport) as client:
        for name, args in calls:
            res = await client.call_tool(name, args, raise_on_error=False)
            out.append((bool(res.is_error), _payload(res)))
    return out


def _payload(res: Any) -> Any:
    text = "".join(c.text for c in res.content if c.type == "text")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


DRIVERS = {"mcp": _with_mcp, "fastmcp": _with_fastmcp}


@pytest.mark.parametrize(("sdk", "embedder"), [("mcp", "minilm"), ("fastmcp", "hashing")])
async def test_search_is_scoped_distinct_and_stats_count(
    sdk: str,
    embedder: str,
    kafka: KafkaEndpoint,
    names: Names,
    chroma: ChromaServer,
    tmp_path: Path,
) -> None:
    _seed(chroma, names.collection, embedder)
    env = _env(kafka, names, tmp_path, chroma.url, embedder)
    results = await DRIVERS[sdk](str(EXAMPLES / SERVER[sdk]), env, tmp_path / "server.log")
    assert [err for err, _ in results] == [False, False, False, False, True, False], results
    (_, near), (_, crash), (_, big), (_, stats) = results[2:]

    assert near["untrusted"] is True
    assert near["scope"] == HERE
    salients = [h["salient"] for h in near["hits"]]
    assert salients[0] == OOM  # the seeded situation of this scope, nearest
    assert near["hits"][0]["occurrences"] == 7
    assert near["hits"][0]["tool"] == "oc_read_logs"
    text = orjson.dumps(near).decode()
    assert "DEV-ONLY" not in text  # another environment's situation never leaves Chroma
    assert "OTHER-DOMAIN" not in text
    assert len(salients) == len(set(salients)) == 3  # the three per-call copies count once
    assert salients.count(CRASH) == 1

    assert [h["tool"] for h in crash["hits"]] == ["oc_read_get_pods"]
    assert crash["hits"][0]["occurrences"] == 1  # an old per-call memory: seen once

    assert big == "memory_search: query: at most 1024 bytes (got 2000)"

    assert stats["producer"]["emitted"] == 2  # the two tool calls; memory tools are not recorded
    assert stats["memory"]["available"] is True
    assert stats["memory"]["situations"] == IN_SCOPE
    assert stats["memory"]["byKind"] == {"failure": IN_SCOPE}
    assert isinstance(stats["enrichment"]["on"], bool)


@pytest.mark.parametrize("sdk", ["mcp", "fastmcp"])
async def test_chroma_down_gives_a_clean_tool_error(
    sdk: str, kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    env = _env(kafka, names, tmp_path, dead, "hashing")
    results = await DRIVERS[sdk](str(EXAMPLES / SERVER[sdk]), env, tmp_path / "server.log")
    assert [err for err, _ in results] == [False, False, True, True, True, False]
    for _, text in results[2:4]:
        assert isinstance(text, str)
        assert text.startswith("memory unavailable: ")
        assert "\n" not in text
    stats = results[5][1]
    assert stats["memory"]["available"] is False
    assert stats["producer"]["emitted"] == 2


@pytest.mark.parametrize(("sdk", "embedder"), [("mcp", "minilm"), ("fastmcp", "minilm")])
def test_stdout_carries_only_json_rpc(
    sdk: str,
    embedder: str,
    kafka: KafkaEndpoint,
    names: Names,
    chroma: ChromaServer,
    tmp_path: Path,
) -> None:
    _seed(chroma, names.collection, embedder)
    env = _env(kafka, names, tmp_path, chroma.url, embedder)
    requests: list[dict[str, Any]] = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw-check", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        *[
            {
                "jsonrpc": "2.0",
                "id": i + 2,
                "method": "tools/call",
                "params": {"name": name, "arguments": args},
            }
            for i, (name, args) in enumerate(CALLS)
        ],
    ]
    with (tmp_path / "stderr.log").open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / SERVER[sdk])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    assert proc.stdin is not None
    assert proc.stdout is not None
    wanted = set(range(1, len(CALLS) + 2))
    seen: dict[int, dict[str, Any]] = {}
    try:
        for request in requests:
            proc.stdin.write(orjson.dumps(request) + b"\n")
        proc.stdin.flush()
        while set(seen) != wanted:
            line = proc.stdout.readline()  # the pytest timeout bounds a hung server
            assert line, (tmp_path / "stderr.log").read_text()[-2000:]
            message = orjson.loads(line)  # a byte that is not JSON-RPC fails here
            assert message.get("jsonrpc") == "2.0", line
            if "id" in message:
                seen[message["id"]] = message
        proc.stdin.close()
        assert proc.wait(30) == 0
        assert proc.stdout.read() == b""  # nothing after the last response either
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    search = seen[4]["result"]
    assert not search.get("isError"), search
    assert search["structuredContent"]["hits"][0]["salient"] == OOM


def test_bench_memory_tools_reports_figures_and_a_ratio(tmp_path: Path) -> None:
    from tests.integration.test_bench_commands import _bench

    r: dict[str, Any] = _bench("memory-tools", tmp_path)
    for key in ("direct_ms", "search_ms", "stats_ms", "noop_ms"):
        assert r[key]["n"] == 12
        assert r[key]["p50"] > 0
    assert r["first_search_ms"] > 0
    assert r["ratio_search_over_direct_p50"] > 0
    assert r["hits_per_search_p50"] == 5  # k = 5 distinct situations of the one scope
    rss = r["tool_server_rss"]
    assert rss["started_mb"] > 0
    assert rss["after_first_search_mb"] > rss["started_mb"]  # the client and model, loaded late


async def test_what_the_memory_worker_wrote_is_found_in_scope_only(
    kafka: KafkaEndpoint, names: Names, chroma: ChromaServer, tmp_path: Path
) -> None:
    """End to end: calls of two tool servers (prod and dev, one broker, one Chroma) become
    memories through the real memory worker; the prod server's agent finds prod's only."""
    from tests.kafka_helpers import wait_for
    from tests.processes import worker, worker_env
    from tooltrail.producer import TrailProducer, record_call

    env = worker_env(kafka.bootstrap, names, tmp_path, chroma.url)
    with worker("memory", env, tmp_path / "worker.log") as w:
        await wait_for(lambda: w.get("/readyz")[0] == 200, 60, "the memory group ready")
        for environment, tool in (("prod", "oc_read_logs"), ("dev", "oc_dev_read_logs")):
            trail = TrailProducer(
                kafka_bootstrap=kafka.bootstrap,
                events_topic=names.events,
                enrichment_topic=names.enrichment,
                outbox_dir=tmp_path / f"outbox-{environment}",
                environment=environment,
                domain="openshift",
                enable_presearch=False,
            ).start()
            try:
                for i in range(3):
                    with (
                        pytest.raises(RuntimeError),
                        record_call(trail, tool, {"namespace": "payments", "pod": f"api-{i}"}),
                    ):
                        raise RuntimeError("java.lang.OutOfMemoryError: Java heap space")
                with record_call(trail, "oc_read_get_pods", {"namespace": "payments"}) as call:
                    call.result = "web-1 1/1 Running"
            finally:
                trail.close(timeout=10)
        wanted = {
            ("prod", "oc_read_logs"),
            ("prod", "oc_read_get_pods"),
            ("dev", "oc_dev_read_logs"),
            ("dev", "oc_read_get_pods"),
        }
        await wait_for(
            lambda: wanted <= _stored(chroma.url, names.collection), 90, "both scopes' memories"
        )
    server_env = _env(kafka, names, tmp_path, chroma.url, "hashing")
    calls: Calls = [
        ("memory_search", {"query": "OutOfMemoryError Java heap space", "k": 10}),
        ("memory_search", {"query": "OutOfMemoryError", "tool": "oc_dev_read_logs"}),
        ("memory_get_stats", {}),
    ]
    script = str(EXAMPLES / SERVER["mcp"])
    results = await _with_mcp(script, server_env, tmp_path / "server.log", calls)
    assert [err for err, _ in results] == [False, False, False], results
    (_, near), (_, dev_only), (_, stats) = results
    tools = [h["tool"] for h in near["hits"]]
    assert "oc_read_logs" in tools
    assert "oc_dev_read_logs" not in tools  # dev's memories never reach a prod server
    salients = [h["salient"] for h in near["hits"]]
    assert len(salients) == len(set(salients))  # distinct
    assert dev_only["hits"] == []
    assert stats["memory"]["situations"] >= 2  # prod's failure and its routine call, at least


def _stored(url: str, collection: str) -> set[tuple[str, str]]:
    """(environment, tool) of every memory in ``collection`` (empty until it exists)."""
    from chromadb.errors import NotFoundError

    client = open_client(url)
    try:
        try:
            got = client.get_collection(collection).get(include=["metadatas"])
        except NotFoundError:
            return set()
        return {(str(m["environment"]), str(m["tool"])) for m in got["metadatas"] or []}
    finally:
        close_client(client)


async def test_a_collection_of_another_embedder_is_a_clear_error(
    names: Names, chroma: ChromaServer, tmp_path: Path
) -> None:
    import mcp
    from mcp.server.mcpserver import MCPServer

    from tooltrail.producer import TrailProducer
    from tooltrail.producer.memory_settings import MemoryToolSettings
    from tooltrail.producer.memory_tools import add_memory_tools

    _seed(chroma, names.collection, "hashing")  # the workers embed with hashing
    trail = TrailProducer(
        kafka_bootstrap="memory://embedder-mismatch",
        outbox_dir=tmp_path / "outbox",
        enable_presearch=False,
        **HERE,
    )
    server = MCPServer("t", log_level="WARNING")
    settings = MemoryToolSettings(
        chroma_url=chroma.url, chroma_collection=names.collection, embedder="minilm"
    )
    tools = add_memory_tools(server, trail, settings)
    try:
        async with mcp.Client(server) as client:
            res = await client.call_tool("memory_search", {"query": "heap"})
    finally:
        tools.close()
        trail.close(timeout=1)
    assert res.is_error
    text = "".join(c.text for c in res.content if c.type == "text")
    assert text.startswith(f"memory unavailable: collection '{names.collection}' was built with")
    assert "TOOLTRAIL_EMBEDDER" in text
