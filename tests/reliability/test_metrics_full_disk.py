"""The metrics group on a real full disk: nothing lost, nothing twice, counters true.

``worker all`` writes its metrics segments to a small tmpfs mount that fills up part way
through the topic (batches cross the limit mid-write). While it is full the metrics group
is stuck and says so, and the memory and enrich groups finish everything. On the disk there
are only whole lines, as many as ``written_total`` claims. When the mount grows again the
group catches up: every event exactly once by event id, lag 0. Needs root (CI runs as root).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.kafka_helpers import wait_for
from tests.processes import worker, worker_env
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.sinks.metrics import segments
from tooltrail.schemas import encode

pytestmark = pytest.mark.reliability
EVENTS = 3_000  # ~320 B per metrics record: ~1 MB in all


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` for the test, unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    path.mkdir(mode=0o700)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        check=True,
        timeout=30,
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=30)


def _remount(path: Path, size: str) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(path)],
        check=True,
        timeout=30,
    )


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for value in values:
            await producer.send(topic, value, key=b"s")
        await producer.flush()
    finally:
        await producer.stop()


def _on_disk(directory: Path) -> list[str]:
    """Event ids of the lines on disk; every line must be whole."""
    ids = []
    for path in segments(directory):
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"{path.name} ends in a partial line"
        ids += [orjson.loads(line)["eventId"] for line in data.splitlines()]
    return ids


@pytest.mark.timeout(600)
async def test_metrics_on_a_full_disk_lose_nothing_and_count_true(
    kafka: KafkaEndpoint, chroma: ChromaServer, names: Names, tmp_path: Path
) -> None:
    events = [make_event(session_id=f"s{i}") for i in range(EVENTS)]
    wanted = Counter(e.event_id for e in events)
    with tmpfs(tmp_path / "metrics", "256k") as mount:
        env = worker_env(
            kafka.bootstrap,
            names,
            tmp_path,
            chroma.url,
            TOOLTRAIL_MAX_POLL_RECORDS="500",
            TOOLTRAIL_STUCK_AFTER_S="2",
        )
        groups = {g: env[f"TOOLTRAIL_{g.upper()}_GROUP"] for g in ("metrics", "memory", "enrich")}
        await ensure_topics({"bootstrap_servers": kafka.bootstrap}, [TopicSpec(names.events, 3)])
        with worker("all", env, tmp_path / "worker.log") as w:
            await _produce(kafka.bootstrap, names.events, [encode(e) for e in events])
            await wait_for(lambda: _done(w, groups["memory"]), 240, "the memory group")
            await wait_for(lambda: _done(w, groups["enrich"]), 120, "the enrich group")
            await wait_for(lambda: w.get("/readyz")[0] == 503, 60, "metrics reported stuck")
            assert groups["metrics"] in w.get("/readyz")[1]
            assert w.metric("tooltrail_lag", group=groups["metrics"]) > 0
            full = _on_disk(mount)
            written = w.metric("tooltrail_written_total", group=groups["metrics"])
            assert 0 < len(full) < EVENTS
            assert written == len(full) == len(set(full))  # the counter is what is on disk
            _remount(mount, "16m")
            await wait_for(lambda: _done(w, groups["metrics"]), 120, "metrics after the space")
            assert w.metric("tooltrail_written_total", group=groups["metrics"]) == EVENTS
            assert w.proc.poll() is None, "the worker died"
            code, _ = w.stop()
        assert code == 0
        assert Counter(_on_disk(mount)) == wanted  # each event exactly once
    print(f"\non the full disk: {len(full)} of {EVENTS} records, all whole; then all {EVENTS}")


def _done(w: Any, group: str) -> bool:
    return w.metric("tooltrail_consumed_total", group=group) >= EVENTS and (
        w.metric("tooltrail_lag", group=group) == 0
    )
