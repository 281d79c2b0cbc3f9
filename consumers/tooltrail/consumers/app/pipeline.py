"""``tooltrail up``: the whole pipeline in one process tree.

Starts the embedded Tansu broker and a ``chroma run`` server on loopback (unless
``TOOLTRAIL_KAFKA_BOOTSTRAP`` / ``TOOLTRAIL_CHROMA_URL`` point elsewhere), creates the topics,
runs every consumer group in this process, and with ``demo`` drives realistic tool calls
through the demo MCP server using the official SDK's stdio client. With ``events`` it stops
once every group has processed that many calls and returns a summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from tooltrail.consumers.app.app_settings import explicitly_set
from tooltrail.consumers.app.demo.traffic import Traffic
from tooltrail.consumers.app.figures import pct
from tooltrail.consumers.app.launcher import ChromaServer, EmbeddedBroker
from tooltrail.consumers.files import private_text
from tooltrail.consumers.kafka.topics import ensure_pipeline_topics
from tooltrail.consumers.memory.vector_cache import current_cache
from tooltrail.consumers.runtime.groups import build_runners
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings


@contextlib.contextmanager
def infrastructure(data_dir: Path, settings: WorkerSettings) -> Iterator[tuple[str, str]]:
    """(bootstrap, chroma url): the configured ones, or embedded ones started here."""
    with contextlib.ExitStack() as stack:
        bootstrap = settings.kafka_bootstrap
        if not explicitly_set(settings, "kafka_bootstrap"):
            broker = stack.enter_context(
                EmbeddedBroker(data_dir / "logs" / "tansu.log", None).start()
            )
            bootstrap = broker.bootstrap
        url = settings.chroma_url
        if not url:
            chroma = ChromaServer(data_dir / "chroma", data_dir / "logs" / "chroma.log")
            url = stack.enter_context(chroma.start()).url
        yield bootstrap, url


@contextlib.asynccontextmanager
async def demo_client(settings: WorkerSettings, data_dir: Path) -> AsyncIterator[Any]:
    """An initialised MCP ``ClientSession`` to the demo server over real stdio."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    inherited = {k: v for k, v in os.environ.items() if k.startswith("TOOLTRAIL_")}  # TLS/SASL
    # the hits ride back in each result's _meta (unless set otherwise), so the view counts them
    env = {
        "TOOLTRAIL_PRESEARCH_ATTACH_META": "true",
        **inherited,
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data_dir),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "TOOLTRAIL_EVENTS_TOPIC": settings.events_topic,
        "TOOLTRAIL_ENRICHMENT_TOPIC": settings.enrichment_topic,
        "TOOLTRAIL_OUTBOX_DIR": str(data_dir / "outbox"),
    }
    if settings.enrichment_key_file is not None and settings.enrichment_key is None:
        env["TOOLTRAIL_ENRICHMENT_KEY_FILE"] = str(settings.enrichment_key_file)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tooltrail.consumers.app.cli", "--log-level", "WARNING", "demo-server"],
        env=env,
    )
    with private_text(data_dir / "logs" / "demo-server.log", append=True) as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as s,
        ):
            await s.initialize()
            yield s


def processed(runner: GroupRunner) -> int:
    """Events a group has handled (written, or dead-lettered)."""
    return (
        runner.stats.written + runner.stats.dead_lettered
        if runner.sink.name != "enrich"
        else runner.stats.consumed
    )


def _group(r: GroupRunner) -> dict[str, Any]:
    fresh = list(r.stats.freshness_ms)
    return {
        "group": r.group,
        "processed": processed(r),
        "written": r.stats.written,
        "dead_lettered": r.stats.dead_lettered,
        "lag": sum(r.stats.lag().values()),
        "last_error": r.stats.last_error,
        "freshness_ms": {"p50": pct(fresh, 0.5), "p99": pct(fresh, 0.99)},
    }


def summary(runners: list[GroupRunner], traffic: Traffic, elapsed: float) -> dict[str, Any]:
    """What ``--json`` prints."""
    return {
        "events": traffic.calls,
        "tool_errors": traffic.errors,
        "seconds": round(elapsed, 1),
        "rate": {
            "asked": traffic.asked_rate,
            "achieved": round(traffic.achieved_rate, 1),
            "late_calls": traffic.late,
        },
        "tool_call_ms": {"p50": pct(traffic.latency_ms, 0.5), "p99": pct(traffic.latency_ms, 0.99)},
        "presearch": {"calls_with_hits": traffic.presearch_calls, "hits": traffic.presearch_hits},
        "groups": {r.sink.name: _group(r) for r in runners},
        "embedding": _embedding(),
    }


def _embedding() -> dict[str, int] | None:
    """Texts embedded in this process, and those served by the shared ``VectorCache``."""
    cache = current_cache()
    return None if cache is None else {"embedded": cache.misses, "reused": cache.hits}


async def _ready(
    runners: list[GroupRunner], stop: asyncio.Event, limit: float, tick: Callable[[], Any]
) -> None:
    """Until every group is connected with its sink started, ``stop``, or ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not stop.is_set() and time.monotonic() < deadline:
        if all(r.stats.connected for r in runners):
            return
        tick()
        await asyncio.sleep(0.1)


async def run(
    settings: WorkerSettings,
    data_dir: Path,
    *,
    demo: bool,
    events: int | None,
    rate: float,
    timeout: float,  # noqa: ASYNC109 - a deadline for --events, not a cancellation timeout
    view: Callable[[list[GroupRunner], Traffic], Any] | None,
    stop: asyncio.Event,
) -> dict[str, Any]:
    """Run the groups (and the demo traffic) until ``stop``, or until ``events`` are processed."""
    await ensure_pipeline_topics(settings)
    runners = build_runners(settings, ["all"])
    tasks = [asyncio.create_task(r.run(stop)) for r in runners]
    traffic = Traffic()
    started = time.monotonic()
    timed_out = False
    try:
        async with contextlib.AsyncExitStack() as stack:
            if demo:
                session = await stack.enter_async_context(demo_client(settings, data_dir))
                # traffic starts once every group has joined and loaded its model, so the
                # first calls are not left behind a cold start (their freshness counts too)
                await _ready(
                    runners,
                    stop,
                    settings.sink_timeout_s + settings.kafka_timeout_s,
                    lambda: view(runners, traffic) if view is not None else None,
                )
                tasks.append(asyncio.create_task(traffic.drive(session, events, rate, stop)))
            while not stop.is_set():
                if view is not None:
                    view(runners, traffic)
                if (
                    events is not None
                    and traffic.calls >= events
                    and all(processed(r) >= events for r in runners)
                ):
                    break
                if events is not None and time.monotonic() - started > timeout:
                    timed_out = True  # reported, not raised: the MCP client's task group
                    break  # would wrap an exception into an ExceptionGroup
                await asyncio.sleep(0.25)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    result = summary(runners, traffic, time.monotonic() - started)
    if timed_out:
        behind = [r.sink.name for r in runners if processed(r) < (events or 0)]
        result["error"] = (
            f"not every group caught up within {timeout:.0f}s "
            f"(behind: {', '.join(behind) or 'the demo calls'})"
        )
    return result
