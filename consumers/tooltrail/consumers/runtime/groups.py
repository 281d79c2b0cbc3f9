"""``tooltrail worker``: run one or every consumer group in this process until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from tooltrail.consumers.observability.http import serve
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.base import Sink
from tooltrail.consumers.sinks.metrics import MetricsSink
from tooltrail.schemas.errors import SettingsError
from tooltrail.schemas.records import VectorTarget

log = logging.getLogger(__name__)
GROUPS = ("metrics", "memory", "enrich")


def build_runners(settings: WorkerSettings, groups: list[str]) -> list[GroupRunner]:
    """One runner per requested group (``all`` = every group this build provides).

    ``all`` includes the memory group only when Chroma is configured (URL or path);
    asking for ``memory`` explicitly without Chroma is an error.
    """
    chroma = settings.chroma_configured
    wanted = list(GROUPS) if "all" in groups else groups
    if "all" in groups and not chroma:
        log.warning(
            "no TOOLTRAIL_CHROMA_URL or TOOLTRAIL_CHROMA_PATH: memory and enrich groups not started"
        )
        wanted = [g for g in wanted if g not in ("memory", "enrich")]
    runners = []
    for name in wanted:
        if name == "metrics":
            vector = VectorTarget(
                tenant=settings.chroma_tenant,
                database=settings.chroma_database,
                collection=settings.chroma_collection,
            )
            metrics = MetricsSink(
                settings.metrics_dir,
                settings.metrics_segment_bytes,
                vector,
                settings.metrics_dedup_window,
                settings.metrics_writer_id,
            )
            runners.append(GroupRunner(settings, settings.metrics_group, metrics))
            continue
        if not chroma:
            raise SettingsError(
                [f"the {name} group needs TOOLTRAIL_CHROMA_URL or TOOLTRAIL_CHROMA_PATH"]
            )
        from tooltrail.consumers.memory.embedders import make_embedder
        from tooltrail.consumers.sinks.enrich import EnrichSink
        from tooltrail.consumers.sinks.memory import MemorySink

        embedder = make_embedder(settings.embedder, settings.embed_threads)
        if name == "memory":
            sink: Sink = MemorySink(settings, embedder)
            runners.append(
                GroupRunner(settings, settings.memory_group, sink, settings.embed_batch_records)
            )
        else:
            sink = EnrichSink(settings, embedder)
            runners.append(
                GroupRunner(settings, settings.enrich_group, sink, settings.embed_batch_records)
            )
    return runners


async def run_groups(settings: WorkerSettings, groups: list[str], http_port: int | None) -> None:
    """Run the groups concurrently; a signal stops them all cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runners = build_runners(settings, groups)
    server = (
        await serve(
            http_port,
            lambda: [r.stats for r in runners],
            settings.http_host,
            settings.health_stall_s,
        )
        if http_port is not None
        else None
    )
    log.info("worker started", extra={"groups": [r.group for r in runners], "http_port": http_port})
    try:
        await _run_until_stopped(runners, stop, settings.shutdown_grace_s)
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
    log.info("worker stopped", extra={"written": {r.group: r.stats.written for r in runners}})


async def _run_until_stopped(runners: list[GroupRunner], stop: asyncio.Event, grace: float) -> None:
    """Run every group; once ``stop`` is set, give them ``grace`` seconds, then cancel."""
    tasks = [asyncio.create_task(r.run(stop)) for r in runners]
    everything: asyncio.Future[Any] = asyncio.gather(*tasks, return_exceptions=True)
    stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    await asyncio.wait([everything, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    try:
        await asyncio.wait_for(asyncio.shield(everything), grace)
    except TimeoutError:
        log.error(  # noqa: TRY400 - no exception to show: it is a deadline
            "groups did not stop within the grace period; leaving them",
            extra={"grace_s": grace},
        )
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=2.0)
