"""The worker's HTTP endpoint: readiness follows the groups' start, liveness their loops."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.observability.http import serve
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas import SettingsError, load_settings


async def _get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_probes_report_what_kubernetes_should_act_on() -> None:
    metrics, memory = GroupStats("tooltrail-metrics"), GroupStats("tooltrail-memory")
    server = await serve(0, lambda: [metrics, memory], host="127.0.0.1", stall_s=30)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await _get(port, "/readyz") == (
            503,
            "not ready: tooltrail-metrics (starting), tooltrail-memory (starting)\n",
        )
        assert (await _get(port, "/healthz"))[0] == 200  # starting is not stalled
        metrics.connected = True
        assert await _get(port, "/readyz") == (503, "not ready: tooltrail-memory (starting)\n")
        memory.connected = True
        assert await _get(port, "/readyz") == (200, "ready\n")
        memory.last_poll = time.monotonic() - 31  # e.g. a sink call that never returns
        status, body = await _get(port, "/healthz")
        assert status == 503
        assert body.startswith("stalled: tooltrail-memory (3")
        memory.last_poll = time.monotonic()
        assert await _get(port, "/healthz") == (200, "ok\n")
        status, body = await _get(port, "/metrics")
        assert status == 200
        assert 'tooltrail_ready{group="tooltrail-memory"} 1.0' in body
        assert (await _get(port, "/nope"))[0] == 404
    finally:
        server.close()
        await server.wait_closed()


async def test_a_group_stuck_retrying_is_not_ready_and_says_why() -> None:
    stats = GroupStats("tooltrail-memory", "memory", stuck_after_s=60)
    stats.connected = True
    server = await serve(0, lambda: [stats], host="127.0.0.1", stall_s=30)
    port = server.sockets[0].getsockname()[1]
    try:
        stats.failed('RetriableSinkError: chroma "down"\nsecond line')
        assert await _get(port, "/readyz") == (200, "ready\n")  # retrying, not stuck yet
        body = (await _get(port, "/metrics"))[1]
        assert 'tooltrail_group_retrying{group="tooltrail-memory"} 0.0' in body
        assert 'tooltrail_healthy{group="tooltrail-memory"} 0.0' in body
        stats.retrying_since = time.monotonic() - 61
        assert await _get(port, "/readyz") == (503, "not ready: tooltrail-memory (stuck)\n")
        body = (await _get(port, "/metrics"))[1]
        assert 'tooltrail_group_retrying{group="tooltrail-memory"} 1' in body
        assert (
            'tooltrail_last_error_info{error="RetriableSinkError: chroma \\"down\\"\\nsecond '
            'line",group="tooltrail-memory"} 1.0'
        ) in body
        assert (await _get(port, "/healthz"))[0] == 200  # stuck is not dead: no restart
        stats.recovered()
        assert await _get(port, "/readyz") == (200, "ready\n")
    finally:
        server.close()
        await server.wait_closed()


def test_exposition_is_typed_in_seconds_with_histograms_and_process_metrics() -> None:
    from tooltrail.consumers.observability.http import prometheus_text

    stats = GroupStats("g")
    for age in (0.02, 0.3, 7.0):
        stats.freshness.observe(age)
    stats.write_seconds.observe(0.004)
    text = prometheus_text([stats])
    assert "# TYPE tooltrail_freshness_seconds histogram" in text
    assert 'tooltrail_freshness_seconds_bucket{group="g",le="0.025"} 1.0' in text
    assert 'tooltrail_freshness_seconds_bucket{group="g",le="0.5"} 2.0' in text
    assert 'tooltrail_freshness_seconds_bucket{group="g",le="+Inf"} 3.0' in text
    assert 'tooltrail_freshness_seconds_count{group="g"} 3.0' in text
    assert "# TYPE tooltrail_sink_write_seconds histogram" in text
    assert "# TYPE tooltrail_written_total counter" in text
    assert "process_resident_memory_bytes" in text
    assert "_ms" not in text  # every duration is in seconds


async def _raw(port: int, request: bytes) -> bytes:
    """What the server sends back for ``request`` (b"" if it closes without answering)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        writer.write_eof()
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def _server() -> AsyncIterator[tuple[int, list[dict[str, Any]]]]:
    """A server on an ephemeral port, and the exceptions its loop saw."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    stats = GroupStats("g")
    stats.connected = True
    server = await serve(0, lambda: [stats], stall_s=30)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()
        await server.wait_closed()
        loop.set_exception_handler(None)


async def test_the_endpoint_binds_loopback_unless_told_otherwise() -> None:
    server = await serve(0, list)
    try:
        assert server.sockets[0].getsockname()[0] == "127.0.0.1"
    finally:
        server.close()
        await server.wait_closed()
    assert WorkerSettings().http_host == "127.0.0.1"
    with pytest.raises(SettingsError, match="TOOLTRAIL_HTTP_HOST = 'a b'"):
        load_settings(WorkerSettings, http_host="a b")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /readyz\xff HTTP/1.1\r\n\r\n", b"400"),  # a path that is not UTF-8
        (b"GET /\xc3\x28 HTTP/1.1\r\n\r\n", b"400"),
        (b"GET /readyz\r\n\r\n", b"400"),  # HTTP/0.9
        (b"GET  /readyz HTTP/1.1\r\n\r\n", b"400"),
        (b"GET readyz HTTP/1.1\r\n\r\n", b"400"),
        (b"GET /\x00 HTTP/1.1\r\n\r\n", b"400"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"400"),  # a TLS client hello
        (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n\r\n", b"400"),
        (b"GET /readyz HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", b"400"),
        (b"POST /readyz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"405"),
        (b"GET /readyz?x=\xff HTTP/1.1\r\n\r\n", b"400"),
        (b"GET /readyz?probe=1 HTTP/1.1\r\nHost: x\r\n\r\n", b"200"),
    ],
)
async def test_a_malformed_request_gets_400_and_never_an_exception(
    request_bytes: bytes, status: bytes
) -> None:
    async with _server() as (port, seen):
        answer = await _raw(port, request_bytes)
        assert answer.split(b" ")[1] == status, answer[:80]
        assert await _raw(port, b"GET /readyz HTTP/1.1\r\n\r\n") != b""  # still serving
    assert seen == []


async def test_head_answers_headers_only_and_a_silent_client_is_dropped() -> None:
    async with _server() as (port, seen):
        head, _, body = (await _raw(port, b"HEAD /readyz HTTP/1.1\r\n\r\n")).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"Content-Length: 6" in head
        assert body == b""
        assert await _raw(port, b"") == b""  # closed without a request: nothing to answer
    assert seen == []


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=300)
    | st.builds(lambda t: b"GET /" + t + b" HTTP/1.1\r\n\r\n", st.binary(max_size=40))
)
async def test_any_bytes_get_an_answer_or_a_close_never_an_exception(request_bytes: bytes) -> None:
    async with _server() as (port, seen):
        answer = await _raw(port, request_bytes)
        assert answer == b"" or answer.split(b" ")[1] in (b"200", b"400", b"404", b"405")
        assert seen == []


def test_deployments_bind_the_pod_address_and_compose_every_interface() -> None:
    root = Path(__file__).resolve().parents[2] / "deploy"
    for group in ("metrics", "memory", "enrich"):
        doc = yaml.safe_load((root / "k8s" / "base" / f"worker-{group}.yaml").read_text())
        [container] = doc["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container.get("env", [])}
        source = env["TOOLTRAIL_HTTP_HOST"]["valueFrom"]["fieldRef"]["fieldPath"]
        assert source == "status.podIP", group
    compose = yaml.safe_load((root / "compose.yaml").read_text())
    assert compose["x-tooltrail"]["environment"]["TOOLTRAIL_HTTP_HOST"] == "0.0.0.0"
