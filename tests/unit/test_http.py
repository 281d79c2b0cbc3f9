"""The worker's HTTP endpoint: readiness follows the groups' start, liveness their loops."""

from __future__ import annotations

import asyncio
import time

from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.observability.http import serve


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
            'tooltrail_last_error_info{error_type="RetriableSinkError",'
            'group="tooltrail-memory"} 1.0'
        ) in body
        assert "chroma" not in body  # the text, which changes, is no label value
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
