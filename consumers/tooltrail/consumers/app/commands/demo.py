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
from typing import Any

import orjson

from tooltrail.consumers.app import pipeline
from tooltrail.consumers.app.app_settings import app_settings
from tooltrail.consumers.app.commands import add, positive_float, positive_int
from tooltrail.consumers.app.demo.traffic import Traffic
from tooltrail.consumers.app.figures import pct
from tooltrail.consumers.files import private_dir
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.config import load_settings

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
    print(
        orjson.dumps(
            {
                "events": traffic.calls,
                "tool_errors": traffic.errors,
                "rate": {
                    "asked": rate,
                    "achieved": round(traffic.achieved_rate, 1),
                    "late_calls": traffic.late,
                },
                "tool_call_ms": {
                    "p50": pct(traffic.latency_ms, 0.5),
                    "p99": pct(traffic.latency_ms, 0.99),
                },
            }
        ).decode()
    )
    # some demo tools fail on purpose; every call failing means the server is not working
    return 1 if traffic.calls and traffic.errors == traffic.calls else 0


async def _drive(
    settings: WorkerSettings, root: Path, events: int | None, rate: float, progress_s: float
) -> Traffic:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    traffic = Traffic()
    async with pipeline.demo_client(settings, root) as session:
        log.info("demo traffic started", extra={"kafka": settings.kafka_bootstrap, "rate": rate})
        task = asyncio.create_task(traffic.drive(session, events, rate, stop))
        while not task.done():
            await asyncio.wait({task}, timeout=progress_s)
            log.info(
                "demo calls",
                extra={
                    "calls": traffic.calls,
                    "tool_errors": traffic.errors,
                    "rate": round(traffic.achieved_rate, 1),
                    "late": traffic.late,
                },
            )
            if traffic.late:
                achieved = round(traffic.achieved_rate, 1)
                log.warning(
                    "the demo server cannot keep up with the asked rate",
                    extra={"asked": rate, "achieved": achieved},
                )
        await task
    return traffic


def register(commands: Any) -> None:
    """``tooltrail demo`` and ``tooltrail demo-server``."""
    p = add(
        commands,
        "demo",
        "drive demo tool calls into the configured Kafka (no groups)",
        "Start the demo MCP server over real stdio and call its tools at --rate per "
        "second (open loop) into TOOLTRAIL_KAFKA_BOOTSTRAP; print a JSON summary when it "
        "stops. About a quarter of the calls fail on purpose (a flaky health check, "
        "impossible scale requests) so that failures reach the pipeline too.",
    )
    p.add_argument(
        "--events",
        type=positive_int,
        default=None,
        help="stop after N calls (default: until Ctrl-C)",
    )
    p.add_argument("--rate", type=positive_float, default=2.0, help="calls per second")
    p.add_argument("--data-dir", default="tooltrail-data", help="the demo server's outbox, logs")
    p.set_defaults(handler=lambda a: main(data_dir=a.data_dir, events=a.events, rate=a.rate))
    p = add(
        commands,
        "demo-server",
        "serve the demo OpenShift tools over stdio (MCP)",
        "The demo tool server (oc_read_get_pods, oc_read_describe_pod, oc_read_logs, "
        "oc_read_get_events, oc_diagnostic_cluster_health, oc_write_scale_deployment) on "
        "stdio, instrumented by the tooltrail producer.",
    )
    p.add_argument("--sdk", choices=["mcp", "fastmcp"], default="mcp", help="MCP SDK to serve with")
    p.add_argument("--no-instrument", action="store_true", help="serve without tooltrail")
    p.set_defaults(handler=_serve)


def _serve(args: Any) -> int:
    from tooltrail.consumers.app.demo import tools
    from tooltrail.consumers.app.demo.server import run

    tools.set_latency_scale(app_settings().demo_latency_scale)  # a bad value fails at start
    return run(args.sdk, instrument=not args.no_instrument)
