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
from collections.abc import Callable, Sequence

from consumers.figures import pct
from consumers.group_stats import GroupStats
from consumers.status import state_of


def _label(value: str) -> str:
    """A Prometheus label value: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(groups: list[GroupStats]) -> str:
    """Render every group's figures in the Prometheus text format."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str, values: Sequence[tuple[str, object]]) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"])
        lines.extend(f"{name}{{{labels}}} {value}" for labels, value in values)

    def per_group(value: object) -> list[tuple[str, object]]:
        return [(f'group="{_label(g.group)}"', getattr(g, str(value))) for g in groups]

    counters = (("consumed", "messages fetched"), ("written", "events durably written"),
                ("dead_lettered", "messages sent to the dead-letter topic"),
                ("rejected", "valid events a sink could not write (dead-lettered)"),
                ("retries", "failed attempts that were retried"))  # fmt: skip
    for attr, help_text in counters:
        family(f"tooltrail_{attr}_total", "counter", help_text, per_group(attr))
    family("tooltrail_lag", "gauge", "highwater minus committed offset, per owned partition",
           [(f'group="{_label(g.group)}",partition="{p}"', lag)
            for g in groups for p, lag in sorted(g.lag().items())])  # fmt: skip
    freshness = [(f'group="{_label(g.group)}",quantile="{q}"',
                  pct(list(g.freshness_ms), q) if g.freshness_ms else 0)
                 for g in groups for q in (0.5, 0.99)]  # fmt: skip
    family(
        "tooltrail_freshness_ms", "gauge", "event end to durable write, recent events", freshness
    )
    family("tooltrail_healthy", "gauge", "1 while the group is not retrying a failed batch",
           [(f'group="{_label(g.group)}"', int(g.retrying_since is None))
            for g in groups])  # fmt: skip
    family("tooltrail_group_retrying", "gauge",
           "1 while the group has retried one batch for longer than TOOLTRAIL_STUCK_AFTER_S",
           [(f'group="{_label(g.group)}"', int(g.stuck)) for g in groups])  # fmt: skip
    family("tooltrail_retrying_seconds", "gauge", "how long the current batch has been failing",
           [(f'group="{_label(g.group)}"', round(g.retrying_for, 1)) for g in groups])  # fmt: skip
    family("tooltrail_last_error_info", "gauge", "the last error of the group (1 while present)",
           [(f'group="{_label(g.group)}",error="{_label(g.last_error)}"', 1)
            for g in groups if g.last_error])  # fmt: skip
    family("tooltrail_ready", "gauge", "1 once connected and not stuck",
           [(f'group="{_label(g.group)}"', int(g.ready)) for g in groups])  # fmt: skip
    return "\n".join(lines) + "\n"


def probe(path: str, groups: list[GroupStats], stall_s: float) -> tuple[str, str]:
    """(HTTP status, body) of ``/healthz`` or ``/readyz`` for these groups."""
    if path == "/readyz":
        waiting = [f"{g.group} ({state_of(g)})" for g in groups if not g.ready]
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
