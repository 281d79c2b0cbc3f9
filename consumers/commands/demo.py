"""``tooltrail demo``: drive demo tool calls into the configured Kafka (no groups, no infra).

What the compose file's and a cluster's demo service runs: the demo MCP server is started over
real stdio with the official SDK's client, exactly as ``tooltrail up --demo`` does, but the
events go to ``TOOLTRAIL_KAFKA_BOOTSTRAP`` and the workers run elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import orjson

from consumers import up
from consumers.figures import pct
from consumers.files import private_dir
from consumers.settings import WorkerSettings
from schemas.settings import load_settings

log = logging.getLogger(__name__)


def main(*, data_dir: str, events: int | None, rate: float, progress_s: float = 10.0) -> int:
    """Call demo tools at ``rate``/s until ``events`` calls (or a signal); print a summary.

    Exit status 1 when every call failed, else 0.
    """
    settings = load_settings(WorkerSettings)
    root = Path(data_dir)
    private_dir(root)
    private_dir(root / "logs")
    traffic = asyncio.run(_drive(settings, root, events, rate, progress_s))
    print(orjson.dumps({
        "events": traffic.calls, "tool_errors": traffic.errors,
        "tool_call_ms": {"p50": pct(traffic.latency_ms, 0.5), "p99": pct(traffic.latency_ms, 0.99)},
    }).decode())  # fmt: skip
    # some demo tools fail on purpose; every call failing means the server is not working
    return 1 if traffic.calls and traffic.errors == traffic.calls else 0


async def _drive(
    settings: WorkerSettings, root: Path, events: int | None, rate: float, progress_s: float
) -> up.Traffic:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    traffic = up.Traffic()
    async with up.demo_client(settings, root) as session:
        log.info("demo traffic started", extra={"kafka": settings.kafka_bootstrap, "rate": rate})
        task = asyncio.create_task(traffic.drive(session, events, rate, stop))
        while not task.done():
            await asyncio.wait({task}, timeout=progress_s)
            log.info("demo calls", extra={"calls": traffic.calls, "tool_errors": traffic.errors})
        await task
    return traffic
