"""The worker's HTTP endpoint: ``/metrics`` (Prometheus text), ``/healthz``, ``/readyz``.

A deliberately tiny asyncio server (no framework): it only answers GETs on loopback or the
pod network, and it never blocks the consumer loop.

- ``/readyz`` is 200 once every group in the process has connected its consumer and started
  its sink, 503 (naming the groups) before that and while stopping: a rollout waits for it.
- ``/healthz`` is 200 while every group's loop has turned within ``stall_s`` seconds (a
  retrying group keeps polling, so it stays live); 503 naming the stalled groups otherwise,
  which is what a liveness probe should restart. It is served by the same event loop as the
  groups, so a blocked loop does not answer at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from consumers.figures import pct
from consumers.runner import GroupStats


def prometheus_text(groups: list[GroupStats]) -> str:
    """Render every group's figures in the Prometheus text format."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"])

    counters = (("consumed", "messages fetched"), ("written", "events durably written"),
                ("dead_lettered", "messages sent to the dead-letter topic"),
                ("retries", "sink write retries"))  # fmt: skip
    for attr, help_text in counters:
        family(f"tooltrail_{attr}_total", "counter", help_text)
        lines.extend(
            f'tooltrail_{attr}_total{{group="{g.group}"}} {getattr(g, attr)}' for g in groups
        )
    family("tooltrail_lag", "gauge", "highwater minus committed offset, per partition")
    for g in groups:
        lines.extend(f'tooltrail_lag{{group="{g.group}",partition="{p}"}} {lag}'
                     for p, lag in sorted(g.lag().items()))  # fmt: skip
    family("tooltrail_freshness_ms", "gauge", "event end to durable write, recent events")
    for g in groups:
        for q in (0.5, 0.99):
            value = pct(list(g.freshness_ms), q) if g.freshness_ms else 0
            lines.append(f'tooltrail_freshness_ms{{group="{g.group}",quantile="{q}"}} {value}')
    family("tooltrail_healthy", "gauge", "1 while the sink's last write succeeded")
    lines.extend(
        f'tooltrail_healthy{{group="{g.group}"}} {int(g.last_error is None)}' for g in groups
    )
    family("tooltrail_ready", "gauge", "1 once the consumer is connected and the sink started")
    lines.extend(f'tooltrail_ready{{group="{g.group}"}} {int(g.ready)}' for g in groups)
    return "\n".join(lines) + "\n"


def probe(path: str, groups: list[GroupStats], stall_s: float) -> tuple[str, str]:
    """(HTTP status, body) of ``/healthz`` or ``/readyz`` for these groups."""
    if path == "/readyz":
        waiting = [g.group for g in groups if not g.ready]
        return ("200 OK", "ready\n") if not waiting else (
            "503 Service Unavailable", f"not ready: {', '.join(waiting)}\n")  # fmt: skip
    now = time.monotonic()
    stalled = [f"{g.group} ({now - g.last_poll:.0f}s)" for g in groups
               if now - g.last_poll > stall_s]  # fmt: skip
    return ("200 OK", "ok\n") if not stalled else (
        "503 Service Unavailable", f"stalled: {', '.join(stalled)}\n")  # fmt: skip


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - probes and scrapes come from outside the pod


async def serve(
    port: int,
    groups: Callable[[], list[GroupStats]],
    host: str = ALL_INTERFACES,
    stall_s: float = 300.0,
) -> asyncio.Server:
    """Start the endpoint; the caller closes the returned server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            path = request.split(b" ")[1].decode() if request.count(b" ") >= 2 else "/"
            if path.startswith("/metrics"):
                status, body = "200 OK", prometheus_text(groups())
            elif path in ("/healthz", "/readyz"):
                status, body = probe(path, groups(), stall_s)
            else:
                status, body = "404 Not Found", "not found\n"
            data = body.encode()
            head = (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n"
                    f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n")  # fmt: skip
            writer.write(head.encode() + data)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
