"""The instrumented demo server over real stdio, driven by the SDKs' own clients.

Results must equal an uninstrumented server's, every call must become exactly one event on
the topic, secrets must never reach Kafka, and stdout must carry nothing but JSON-RPC.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tests.kafka_helpers import read_topic
from tooltrail.consumers import TopicSpec, ensure_topics
from tooltrail.schemas import ToolExecutionEvent, decode

pytestmark = pytest.mark.integration

TOKEN = "sha256~ZmFrZS1vcGVuc2hpZnQtdG9rZW4tZm9yLXRlc3RzMDAw"
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("oc_read_get_pods", {"namespace": "payments", "auth_token": TOKEN}),
    ("oc_read_get_pods", {"namespace": "no-such-namespace"}),
    ("oc_read_logs", {"namespace": "payments", "pod": "web-1", "tail": 5}),
    ("oc_diagnostic_cluster_health", {}),
    ("oc_diagnostic_cluster_health", {}),
    ("oc_diagnostic_cluster_health", {}),
    ("oc_write_scale_deployment", {"namespace": "checkout", "deployment": "api", "replicas": 99}),
    ("oc_read_get_pods", {"namespace": "checkout", "selector": "app=api,password=hunter2-hunter2"}),
]
EXPECTED_ERRORS = [False, True, False, False, False, True, True, False]
SECRETS = [TOKEN, "hunter2-hunter2", "sk-demo0leak0token0000"]


def _server_env(kafka: KafkaEndpoint, names: Names, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "TOOLTRAIL_EVENTS_TOPIC": names.events,
        "TOOLTRAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "TOOLTRAIL_DEMO_LATENCY_SCALE": "0",
    }


def _argv(sdk: str, instrument: bool) -> list[str]:
    args = [
        "-m",
        "tooltrail.consumers.app.cli",
        "--log-level",
        "WARNING",
        "demo-server",
        "--sdk",
        sdk,
    ]
    return [*args, *([] if instrument else ["--no-instrument"])]


async def _drive_with_mcp_client(argv: list[str], env: dict[str, str], errlog: Path) -> list[Any]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=argv, env=env)
    results = []
    with errlog.open("w") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as s,
        ):
            await s.initialize()
            for name, arguments in CALLS:
                res = await s.call_tool(name, arguments)
                results.append((res.is_error, [c.model_dump(mode="json") for c in res.content]))
    return results


async def _drive_with_fastmcp_client(
    argv: list[str], env: dict[str, str], errlog: Path
) -> list[Any]:
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    # keep_alive (fastmcp's default) leaves the server running after the client's exit: its
    # events unflushed, and its process still running when the test's loop closes
    transport = StdioTransport(
        command=sys.executable, args=argv, env=env, log_file=errlog, keep_alive=False
    )
    results = []
    async with Client(transport) as client:
        for name, arguments in CALLS:
            res = await client.call_tool(name, arguments, raise_on_error=False)
            results.append((res.is_error, [c.model_dump(mode="json") for c in res.content]))
    return results


@pytest.mark.parametrize("sdk", ["mcp", "fastmcp"])
async def test_stdio_round_trip_one_event_per_call_and_no_secrets(
    sdk: str, kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    await ensure_topics({"bootstrap_servers": kafka.bootstrap}, [TopicSpec(names.events, 3)])
    env = _server_env(kafka, names, tmp_path)
    drive = _drive_with_mcp_client if sdk == "mcp" else _drive_with_fastmcp_client
    plain = await drive(_argv(sdk, instrument=False), env, tmp_path / "plain.log")
    traced = await drive(_argv(sdk, instrument=True), env, tmp_path / "traced.log")

    assert traced == plain  # instrumentation changes nothing the client sees
    assert [is_error for is_error, _ in traced] == EXPECTED_ERRORS

    records = await read_topic(
        kafka.bootstrap, names.events, until=lambda r: len(r) >= len(CALLS), settle=1.0
    )
    events = sorted(
        (decode(r.value, ToolExecutionEvent) for r in records), key=lambda e: e.event_id
    )
    assert len(events) == len(CALLS)  # exactly one event per call
    assert [e.tool_id for e in events] == [name for name, _ in CALLS]
    outcomes = ["tool_error" if err else "ok" for err in EXPECTED_ERRORS]
    assert [e.outcome.value for e in events] == outcomes
    assert len({e.session_id for e in events}) == 1
    assert events[0].args == {"namespace": "payments", "auth_token": "<redacted>"}
    assert events[1].error_summary is not None
    assert "no-such-namespace" in events[1].error_summary
    raw = b"".join((r.key or b"") + r.value for r in records).decode()
    for secret in SECRETS:
        assert secret not in raw
    assert "sk-demo0leak0token0000" in str(traced)  # the tool really returned the leaked token


@pytest.mark.parametrize("sdk", ["mcp", "fastmcp"])
def test_stdout_carries_only_json_rpc(
    sdk: str, kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    requests = [
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
        messages = _converse(sdk, requests, stderr, _server_env(kafka, names, tmp_path), tmp_path)
    assert all(m.get("jsonrpc") == "2.0" for m in messages)


def _converse(
    sdk: str, requests: list[dict[str, Any]], stderr: Any, env: dict[str, str], tmp_path: Path
) -> list[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, *_argv(sdk, instrument=True)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    wanted = Counter(range(1, len(CALLS) + 2))
    messages: list[dict[str, Any]] = []
    try:
        for request in requests:
            proc.stdin.write(orjson.dumps(request) + b"\n")
        proc.stdin.flush()
        while Counter(m.get("id") for m in messages if "id" in m) != wanted:
            line = proc.stdout.readline()  # the pytest timeout bounds a hung server
            assert line, (tmp_path / "stderr.log").read_text()[-2000:]
            messages.append(orjson.loads(line))  # a non-JSON byte fails here
        proc.stdin.close()  # EOF: the server shuts down and flushes its events
        assert proc.wait(30) == 0
        assert proc.stdout.read() == b""  # nothing after the last response either
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    return messages
