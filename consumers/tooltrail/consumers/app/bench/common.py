"""Shared helpers of the benchmarks: percentiles, a broker to run against, printing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from tooltrail.consumers.app.app_settings import explicitly_set
from tooltrail.consumers.app.figures import median, pct, summary
from tooltrail.consumers.app.launcher import EmbeddedBroker
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.config import KafkaSettings, load_settings

__all__ = [
    "bench_settings",
    "kafka_for_bench",
    "machine",
    "median",
    "pct",
    "report",
    "summary",
    "until",
    "workdir",
]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


@contextlib.contextmanager
def kafka_for_bench(workdir: Path) -> Iterator[str]:
    """``TOOLTRAIL_KAFKA_BOOTSTRAP`` if set, else an embedded Tansu broker for the run."""
    settings = load_settings(KafkaSettings)
    if explicitly_set(settings, "kafka_bootstrap"):
        yield settings.kafka_bootstrap
        return
    with EmbeddedBroker(workdir / "tansu.log", None).start() as broker:
        yield broker.bootstrap


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    """A temporary directory for one benchmark run."""
    with tempfile.TemporaryDirectory(prefix="tooltrail-bench-") as name:
        yield Path(name)


def report(result: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    """Print one JSON object, or the human-readable lines."""
    if as_json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        print("\n".join(lines))


async def until(condition: Callable[[], bool], poll: float = 0.005) -> None:
    """Poll a condition that another thread or task changes (a counter, a flag)."""
    while not condition():  # noqa: ASYNC110 - the state lives in another thread or task
        await asyncio.sleep(poll)


def bench_settings(bootstrap: str, chroma_url: str, name: str, **extra: Any) -> WorkerSettings:
    """Worker settings of one benchmark run: topics, groups and collection of its own (``name``
    and a random tag), 3 partitions, sessions short enough for Tansu's joins, and a signing key
    of its own for the enrich group (``extra`` may pass the key a follower must share)."""
    extra.setdefault("enrichment_key", secrets.token_hex(32))
    tag = f"{name}-{uuid.uuid4().hex[:8]}"
    under = tag.replace("-", "_")
    return load_settings(
        WorkerSettings,
        kafka_bootstrap=bootstrap,
        chroma_url=chroma_url,
        events_topic=f"bench.{tag}.events",
        dlq_topic=f"bench.{tag}.dlq",
        enrichment_topic=f"bench.{tag}.enrichment",
        memory_group=f"bench-{tag}-memory",
        enrich_group=f"bench-{tag}-enrich",
        chroma_collection=f"bench_{under}",
        topic_partitions=3,
        session_timeout_ms=3000,
        heartbeat_interval_ms=500,
        **extra,
    )
