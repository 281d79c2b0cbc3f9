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

from consumers.figures import pct
from consumers.files import private_text
from consumers.launcher import ChromaServer, EmbeddedBroker
from consumers.runner import GroupRunner
from consumers.settings import WorkerSettings
from consumers.topics import ensure_pipeline_topics
from consumers.worker import build_runners
from producer.recorder import META_KEY

NAMESPACES = ("openshift-etcd", "openshift-ingress", "payments", "checkout", "monitoring")
DEMO_CALLS: tuple[tuple[str, Callable[[int], dict[str, Any]]], ...] = (
    ("oc_read_get_pods", lambda i: {"namespace": NAMESPACES[i % len(NAMESPACES)]}),
    ("oc_read_get_events", lambda i: {"namespace": NAMESPACES[(i // 6) % len(NAMESPACES)]}),
    ("oc_read_logs", lambda i: {"namespace": "payments", "pod": f"web-{i % 5}", "tail": 5}),
    ("oc_diagnostic_cluster_health", lambda i: {}),
    ("oc_read_describe_pod", lambda i: {"namespace": "checkout", "pod": f"api-{i % 3}"}),
    ("oc_write_scale_deployment",
     lambda i: {"namespace": "checkout", "deployment": "api", "replicas": i % 60}),
)  # fmt: skip


@contextlib.contextmanager
def infrastructure(data_dir: Path) -> Iterator[tuple[str, str]]:
    """(bootstrap, chroma url): the configured ones, or embedded ones started here."""
    with contextlib.ExitStack() as stack:
        bootstrap = os.environ.get("TOOLTRAIL_KAFKA_BOOTSTRAP")
        if not bootstrap:
            broker = stack.enter_context(
                EmbeddedBroker(data_dir / "logs" / "tansu.log", None).start()
            )
            bootstrap = broker.bootstrap
        url = os.environ.get("TOOLTRAIL_CHROMA_URL")
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
    env = {**inherited, "PATH": os.environ.get("PATH", ""), "HOME": str(data_dir),
           "TOOLTRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "TOOLTRAIL_EVENTS_TOPIC": settings.events_topic,
           "TOOLTRAIL_ENRICHMENT_TOPIC": settings.enrichment_topic,
           "TOOLTRAIL_OUTBOX_DIR": str(data_dir / "outbox"),
           # the hits ride back in each result's _meta, so the view can count them
           "TOOLTRAIL_PRESEARCH_ATTACH_META":
               os.environ.get("TOOLTRAIL_PRESEARCH_ATTACH_META", "true"),
           "TOOLTRAIL_DEMO_LATENCY_SCALE":
               os.environ.get("TOOLTRAIL_DEMO_LATENCY_SCALE", "1")}  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=["-m", "consumers.cli",
                                   "--log-level", "WARNING", "demo-server"], env=env)  # fmt: skip
    with private_text(data_dir / "logs" / "demo-server.log", append=True) as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as s,
        ):
            await s.initialize()
            yield s


class Traffic:
    """Demo calls made so far, their outcomes and client-side latencies."""

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.latency_ms: list[float] = []
        self.presearch_calls = 0  # calls that were handed related past memories
        self.presearch_hits = 0  # memories handed over in all

    async def drive(
        self, session: Any, count: int | None, rate: float, stop: asyncio.Event
    ) -> None:
        """Call demo tools at ``rate`` per second until ``count`` calls or ``stop``."""
        while not stop.is_set() and (count is None or self.calls < count):
            name, make_args = DEMO_CALLS[self.calls % len(DEMO_CALLS)]
            t0 = time.perf_counter()
            result = await session.call_tool(name, make_args(self.calls))
            self.latency_ms.append((time.perf_counter() - t0) * 1000)
            self.calls += 1
            self.errors += int(bool(result.is_error))
            hits = (result.meta or {}).get(META_KEY) or []
            self.presearch_calls += int(bool(hits))
            self.presearch_hits += len(hits)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / rate)


def processed(runner: GroupRunner) -> int:
    """Events a group has handled (written, or dead-lettered)."""
    return (
        runner.stats.written + runner.stats.dead_lettered
        if runner.sink.name != "enrich"
        else runner.stats.consumed
    )


def _group(r: GroupRunner) -> dict[str, Any]:
    fresh = list(r.stats.freshness_ms)
    return {"group": r.group, "processed": processed(r), "written": r.stats.written,
            "dead_lettered": r.stats.dead_lettered, "lag": sum(r.stats.lag().values()),
            "last_error": r.stats.last_error,
            "freshness_ms": {"p50": pct(fresh, 0.5), "p99": pct(fresh, 0.99)}}  # fmt: skip


def summary(runners: list[GroupRunner], traffic: Traffic, elapsed: float) -> dict[str, Any]:
    """What ``--json`` prints."""
    return {
        "events": traffic.calls, "tool_errors": traffic.errors, "seconds": round(elapsed, 1),
        "tool_call_ms": {"p50": pct(traffic.latency_ms, 0.5), "p99": pct(traffic.latency_ms, 0.99)},
        "presearch": {"calls_with_hits": traffic.presearch_calls, "hits": traffic.presearch_hits},
        "groups": {r.sink.name: _group(r) for r in runners},
    }  # fmt: skip


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
    try:
        async with contextlib.AsyncExitStack() as stack:
            if demo:
                session = await stack.enter_async_context(demo_client(settings, data_dir))
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
                    raise TimeoutError(summary(runners, traffic, time.monotonic() - started))
                await asyncio.sleep(0.25)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return summary(runners, traffic, time.monotonic() - started)
