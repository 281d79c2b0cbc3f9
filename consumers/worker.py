"""``tooltrail worker``: run one or every consumer group in this process until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from consumers.http import serve
from consumers.runner import GroupRunner
from consumers.settings import WorkerSettings
from consumers.sinks.metrics import MetricsSink
from schemas.records import VectorTarget

log = logging.getLogger(__name__)
GROUPS = ("metrics",)


def build_runners(settings: WorkerSettings, groups: list[str]) -> list[GroupRunner]:
    """One runner per requested group (``all`` = every group this build provides)."""
    wanted = list(GROUPS) if "all" in groups else groups
    runners = []
    for name in wanted:
        if name == "metrics":
            vector = VectorTarget(tenant=settings.chroma_tenant, database=settings.chroma_database,
                                  collection=settings.chroma_collection)  # fmt: skip
            sink = MetricsSink(settings.metrics_dir, settings.metrics_segment_bytes, vector,
                               settings.metrics_dedup_window)  # fmt: skip
            runners.append(GroupRunner(settings, settings.metrics_group, sink))
    return runners


async def run_groups(settings: WorkerSettings, groups: list[str], http_port: int | None) -> None:
    """Run the groups concurrently; a signal stops them all cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runners = build_runners(settings, groups)
    server = (
        await serve(http_port, lambda: [r.stats for r in runners])
        if http_port is not None
        else None
    )
    log.info("worker started", extra={"groups": [r.group for r in runners], "http_port": http_port})
    try:
        await asyncio.gather(*(r.run(stop) for r in runners))
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
    log.info("worker stopped", extra={"written": {r.group: r.stats.written for r in runners}})
