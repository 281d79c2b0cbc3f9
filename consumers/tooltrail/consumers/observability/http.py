"""The worker's HTTP endpoint: ``/metrics`` (Prometheus text), ``/healthz``, ``/readyz``.

A deliberately tiny asyncio server (no framework) that never blocks the consumer loop. It
binds 127.0.0.1 unless ``TOOLTRAIL_HTTP_HOST`` says otherwise (the manifests set the pod's
address, compose and the image 0.0.0.0). It answers ``GET`` and ``HEAD``; anything else a
client sends — a request line that is not ``METHOD SP TARGET SP HTTP/x``, a target that is
not UTF-8, lines over 8 KiB, more than 100 header lines — gets ``400`` (``405`` for another
method), and no request can raise out of the handler.

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
import logging
import time
from collections.abc import Callable

from tooltrail.consumers.observability.exposition import CONTENT_TYPE, registry_for, render
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.observability.status import state_of
from tooltrail.schemas.throttle import Throttle

log = logging.getLogger(__name__)
_failures = Throttle(log, "http: requests that failed")


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


LOOPBACK = "127.0.0.1"
_MAX_LINE = 8192
_MAX_HEADERS = 100
_TEXT = "text/plain; charset=utf-8"
Answer = tuple[str, str, str]  # status, body, content type


class _BadRequest(Exception):
    """The request cannot be answered; ``status`` says why."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


async def serve(
    port: int,
    groups: Callable[[], list[GroupStats]],
    host: str = LOOPBACK,
    stall_s: float = 300.0,
) -> asyncio.Server:
    """Start the endpoint; the caller closes the returned server."""
    registry = registry_for(groups)

    def answer(path: str) -> Answer:
        if path.startswith("/metrics"):
            return "200 OK", render(registry).decode(), CONTENT_TYPE
        if path in ("/healthz", "/readyz"):
            return (*probe(path, groups(), stall_s), _TEXT)
        return "404 Not Found", "not found\n", _TEXT

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await asyncio.wait_for(_read_request(reader), 5)
            status, body, kind = answer(path)
            await _respond(writer, status, body, kind, head_only=method == "HEAD")
        except _BadRequest as bad:
            await _respond(writer, bad.status, f"{bad.status.lower()[4:]}\n", _TEXT)
        except (TimeoutError, ConnectionError):
            pass
        except Exception as exc:  # noqa: BLE001 - nothing a client sends may raise out of here
            _failures.warning("http: answering a request failed: %r", exc)
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=_MAX_LINE)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """(method, path) of one request; its headers are read and ignored."""
    line = await _line(reader)
    if not line:  # closed before a request (a port check): nothing to answer
        raise ConnectionResetError
    parts = line.rstrip(b"\r\n").split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/") or not parts[1].startswith(b"/"):
        raise _BadRequest("400 Bad Request")
    try:
        method, target = parts[0].decode("ascii"), parts[1].decode("utf-8")
    except UnicodeDecodeError:
        raise _BadRequest("400 Bad Request") from None
    if not target.isprintable():
        raise _BadRequest("400 Bad Request")
    for _ in range(_MAX_HEADERS):
        if (await _line(reader)).strip() == b"":
            break
    else:
        raise _BadRequest("400 Bad Request")
    if method not in ("GET", "HEAD"):
        raise _BadRequest("405 Method Not Allowed")
    return method, target.split("?", 1)[0]


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readline()
    except (ValueError, asyncio.LimitOverrunError):  # a line over the limit
        raise _BadRequest("400 Bad Request") from None


async def _respond(
    writer: asyncio.StreamWriter, status: str, body: str, kind: str, *, head_only: bool = False
) -> None:
    data = body.encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + (b"" if head_only else data))
    await writer.drain()
