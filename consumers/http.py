"""The worker's HTTP endpoint: ``/metrics`` (Prometheus text), ``/healthz``, ``/readyz``.

A deliberately tiny asyncio server (no framework): it only answers GETs on loopback or the
pod network, and it never blocks the consumer loop.
"""

from __future__ import annotations

import asyncio
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
    return "\n".join(lines) + "\n"


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - probes and scrapes come from outside the pod


async def serve(
    port: int, groups: Callable[[], list[GroupStats]], host: str = ALL_INTERFACES
) -> asyncio.Server:
    """Start the endpoint; the caller closes the returned server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            path = request.split(b" ")[1].decode() if request.count(b" ") >= 2 else "/"
            if path.startswith("/metrics"):
                status, body = "200 OK", prometheus_text(groups())
            elif path in ("/healthz", "/readyz"):
                status, body = "200 OK", "ok\n"
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
