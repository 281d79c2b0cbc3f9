"""The worker's HTTP endpoint: ``/metrics`` (Prometheus text), ``/healthz``, ``/readyz``.

A deliberately tiny asyncio server (no framework): it only answers GETs on loopback or the
pod network, and it never blocks the consumer loop.

- ``/readyz`` is 200 once every group in the process has connected its consumer and started
  its sink, 503 (naming the groups and their state) before that, while stopping, and while a
  group is stuck retrying one batch (longer than ``TOOLTRAIL_STUCK_AFTER_S``).
- ``/healthz`` is 200 while every group's loop has turned within ``stall_s`` seconds (a
  retrying group keeps polling, so it stays live); 503 naming the stalled groups otherwise,
  which is what a liveness probe should restart. It is served by the same event loop as the
  groups, so a blocked loop does not answer at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tooltrail.consumers.observability.exposition import CONTENT_TYPE, registry_for, render
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.observability.status import state_of


def prometheus_text(groups: list[GroupStats]) -> str:
    """Every group's figures and the process metrics, in the Prometheus text format."""
    return render(registry_for(lambda: groups)).decode()


def probe(path: str, groups: list[GroupStats], stall_s: float) -> tuple[str, str]:
    """(HTTP status, body) of ``/healthz`` or ``/readyz`` for these groups."""
    if path == "/readyz":
        waiting = [f"{g.group} ({state_of(g)})" for g in groups if not g.ready]
        return (
            ("200 OK", "ready\n")
            if not waiting
            else ("503 Service Unavailable", f"not ready: {', '.join(waiting)}\n")
        )
    now = time.monotonic()
    stalled = [
        f"{g.group} ({now - g.last_poll:.0f}s)" for g in groups if now - g.last_poll > stall_s
    ]
    return (
        ("200 OK", "ok\n")
        if not stalled
        else ("503 Service Unavailable", f"stalled: {', '.join(stalled)}\n")
    )


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - probes and scrapes come from outside the pod


async def serve(
    port: int,
    groups: Callable[[], list[GroupStats]],
    host: str = ALL_INTERFACES,
    stall_s: float = 300.0,
) -> asyncio.Server:
    """Start the endpoint; the caller closes the returned server."""

    registry = registry_for(groups)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            path = request.split(b" ")[1].decode() if request.count(b" ") >= 2 else "/"
            kind = "text/plain; charset=utf-8"
            if path.startswith("/metrics"):
                status, body, kind = "200 OK", render(registry).decode(), CONTENT_TYPE
            elif path in ("/healthz", "/readyz"):
                status, body = probe(path, groups(), stall_s)
            else:
                status, body = "404 Not Found", "not found\n"
            data = body.encode()
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + data)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
