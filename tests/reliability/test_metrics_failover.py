"""Metrics worker processes killed mid-stream: no record lost, none written twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.kafka_helpers import wait_for
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.sinks.metrics import SEGMENT, segments
from tooltrail.producer.emitter import TrailProducer

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).parents[2]


def _env(kafka: KafkaEndpoint, names: Names, metrics_dir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(metrics_dir.parent),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "TOOLTRAIL_EVENTS_TOPIC": names.events,
        "TOOLTRAIL_DLQ_TOPIC": names.dlq,
        "TOOLTRAIL_ENRICHMENT_TOPIC": names.enrichment,
        "TOOLTRAIL_METRICS_GROUP": names.group,
        "TOOLTRAIL_METRICS_DIR": str(metrics_dir),
        "TOOLTRAIL_TOPIC_PARTITIONS": "6",
        "TOOLTRAIL_SESSION_TIMEOUT_MS": "2000",
        "TOOLTRAIL_HEARTBEAT_INTERVAL_MS": "500",
        "TOOLTRAIL_MAX_POLL_RECORDS": "100",
    }


@contextlib.contextmanager
def workers(env: dict[str, str], log_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def start_worker(procs: list[subprocess.Popen[bytes]], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as err:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tooltrail.consumers.app.cli", "worker", "metrics"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        )


def record_ids(directory: Path) -> list[str]:
    return [ident for ident in _parsed(directory) if ident is not None]


def torn_lines(directory: Path) -> int:
    return sum(1 for ident in _parsed(directory) if ident is None)


def _parsed(directory: Path) -> list[str | None]:
    out: list[str | None] = []
    for path in segments(directory):
        for line in path.read_bytes().splitlines():
            try:
                out.append(orjson.loads(line)["eventId"])
            except orjson.JSONDecodeError:  # the one line a SIGKILL may tear mid-write
                out.append(None)
    return out


async def _produce(kafka: KafkaEndpoint, names: Names, tmp: Path, n: int, rate: int) -> list[str]:
    events = [make_event(session_id=f"s{i % 13}") for i in range(n)]
    async with TrailProducer(
        kafka_bootstrap=kafka.bootstrap, events_topic=names.events, outbox_dir=tmp / "ob"
    ) as producer:
        for i, event in enumerate(events):
            producer.emit(event)
            if i % (rate // 20) == 0:
                await asyncio.sleep(0.05)
    return [e.event_id for e in events]


async def test_sigkill_mid_stream_then_restart_gives_exactly_every_record(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics"
    env = _env(kafka, names, metrics)
    await ensure_topics({"bootstrap_servers": kafka.bootstrap}, [TopicSpec(names.events, 6)])
    with workers(env, tmp_path) as procs:
        start_worker(procs, env, tmp_path / "w1.log")
        producing = asyncio.create_task(_produce(kafka, names, tmp_path, 10_000, rate=2000))
        await wait_for(lambda: len(record_ids(metrics)) >= 2000, 60, "2000 records")
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()
        start_worker(procs, env, tmp_path / "w2.log")
        expected = await producing
        await wait_for(lambda: len(set(record_ids(metrics))) >= 10_000, 90, "all 10k records")
        await asyncio.sleep(1.0)  # a late duplicate would show up now
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(30) == 0  # clean stop: commit and leave
    ids = record_ids(metrics)
    assert len(ids) == 10_000  # exactly: no duplicates
    assert set(ids) == set(expected)  # no gap
    assert torn_lines(metrics) <= 1  # at most the write the kill interrupted


async def test_two_workers_share_partitions_and_survive_losing_one(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics"
    env = _env(kafka, names, metrics)
    await ensure_topics({"bootstrap_servers": kafka.bootstrap}, [TopicSpec(names.events, 6)])
    logs = (tmp_path / "a.log", tmp_path / "b.log")
    with workers(env, tmp_path) as procs:
        start_worker(procs, {**env, "TOOLTRAIL_METRICS_WRITER_ID": "pod-a"}, logs[0])
        start_worker(procs, {**env, "TOOLTRAIL_METRICS_WRITER_ID": "pod-b"}, logs[1])
        producing = asyncio.create_task(_produce(kafka, names, tmp_path, 6000, rate=1500))
        both_own = lambda: all(b"partitions assigned" in log.read_bytes() for log in logs)  # noqa: E731
        await wait_for(both_own, 60, "both workers to own partitions")
        await wait_for(lambda: len(record_ids(metrics)) >= 1500, 60, "1500 records")
        # a member assigned its partitions just now may not have written yet: the kill must
        # come after both have, or the test cannot tell whose segments the survivor appends to
        await wait_for(lambda: len(_writers(metrics)) == 2, 60, "both workers to write")
        shared = both_own()
        procs[0].send_signal(signal.SIGKILL)
        expected = await producing
        await wait_for(lambda: len(set(record_ids(metrics))) >= 6000, 90, "all 6000 records")
    assert shared, "both workers should have owned partitions before the kill"
    ids = record_ids(metrics)
    assert set(ids) == set(expected)  # the survivor took over the dead worker's partitions
    assert len(ids) == len(set(ids))
    assert _writers(metrics) == {"pod-a", "pod-b"}  # each appended to its own segments only


def _writers(directory: Path) -> set[str]:
    return {m.group(3) for p in segments(directory) if (m := SEGMENT.match(p.name))}
