"""Outages: Kafka not there yet, paused, restarted empty; Chroma hung. Groups survive them all.

Each test runs real ``tooltrail worker`` processes against a private Tansu broker or Chroma
server and injects the fault with signals: SIGSTOP/SIGCONT pauses a process (connections
hang, as with a network partition), SIGKILL and a restart on the same port loses every topic
and offset (Tansu keeps data in memory).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.kafka_helpers import wait_for
from tests.processes import ROOT, worker, worker_env
from tooltrail.consumers.app.launcher import ChromaServer, EmbeddedBroker, free_port
from tooltrail.consumers.kafka.offsets import partitions_of
from tooltrail.consumers.kafka.topics import disable_auto_creation
from tooltrail.consumers.memory.chroma import close_client, open_client
from tooltrail.consumers.sinks.metrics import segments
from tooltrail.schemas import encode

pytestmark = pytest.mark.reliability
FAST = {
    "TOOLTRAIL_KAFKA_TIMEOUT_S": "2",
    "TOOLTRAIL_CONNECT_BACKOFF_MAX_S": "1",
    "TOOLTRAIL_SHUTDOWN_GRACE_S": "5",
}


def metric_ids(tmp: Path) -> Counter[str]:
    return Counter(
        orjson.loads(line)["eventId"]
        for p in segments(tmp / "metrics")
        for line in p.read_bytes().splitlines()
    )


async def produce(
    bootstrap: str, topic: str, n: int, producer: AIOKafkaProducer | None = None
) -> list[str]:
    """Send ``n`` events and wait for every acknowledgement; return their ids."""
    events = [make_event() for _ in range(n)]
    own = producer is None
    if producer is None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        await producer.start()
    try:
        futures = [await producer.send(topic, encode(e), key=e.session_id.encode()) for e in events]
        await asyncio.gather(*futures)
    finally:
        if own:
            await producer.stop()
    return [e.event_id for e in events]


def waiting_lines(log: Path) -> int:
    return sum('"msg":"kafka unreachable; waiting' in line for line in log.read_text().splitlines())


async def test_a_worker_started_before_kafka_waits_then_works(names: Names, tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(f"127.0.0.1:{port}", names, tmp_path, TOOLTRAIL_WARNING_INTERVAL_S="1", **FAST)
    log = tmp_path / "worker.log"
    broker = EmbeddedBroker(tmp_path / "tansu.log", port)
    try:
        with worker("metrics", env, log) as w:
            await wait_for(lambda: w.get("/healthz")[0] == 200, 30, "the worker's endpoint")
            await wait_for(lambda: waiting_lines(log) >= 3, 30, "a few waiting lines")
            status, body = w.get("/readyz")
            assert (status, body) == (
                503,
                f"not ready: {env['TOOLTRAIL_METRICS_GROUP']} (starting)\n",
            )
            assert w.proc.poll() is None
            lines = len(log.read_text().splitlines())
            broker.start()
            await wait_for(lambda: w.get("/readyz")[0] == 200, 30, "ready once Kafka is there")
            ids = await produce(broker.bootstrap, names.events, 50)
            await wait_for(lambda: metric_ids(tmp_path) == Counter(ids), 30, "the 50 records")
            code, took = w.stop()
        assert code == 0
        waited = waiting_lines(log)
        print(f"\nwaiting lines {waited}, log lines before Kafka came {lines}, stop {took:.1f}s")
        assert lines < 20 * waited, "the wait for Kafka floods the log"
    finally:
        broker.stop()


async def test_a_paused_broker_loses_nothing_and_sigterm_is_honoured_during_it(
    own_broker: EmbeddedBroker, names: Names, tmp_path: Path
) -> None:
    own_broker.start()
    env = worker_env(own_broker.bootstrap, names, tmp_path, **FAST)
    with worker("metrics", env, tmp_path / "worker.log") as w:
        await wait_for(lambda: w.get("/readyz")[0] == 200, 30, "the worker to be ready")
        producer = AIOKafkaProducer(
            bootstrap_servers=own_broker.bootstrap, request_timeout_ms=30_000
        )
        await producer.start()
        try:
            first = await produce(own_broker.bootstrap, names.events, 100, producer)
            await wait_for(lambda: len(metric_ids(tmp_path)) == 100, 30, "the first 100")
            own_broker.signal(signal.SIGSTOP)
            sending = asyncio.create_task(
                produce(own_broker.bootstrap, names.events, 100, producer)
            )
            await asyncio.sleep(3)  # the fault: longer than every Kafka timeout of the worker
            assert w.proc.poll() is None
            own_broker.signal(signal.SIGCONT)
            second = await asyncio.wait_for(sending, 60)
        finally:
            own_broker.signal(signal.SIGCONT)
            await producer.stop()
        await wait_for(lambda: metric_ids(tmp_path) == Counter(first + second), 60, "all 200")
        own_broker.signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(0.3)  # the broker is paused when the signal comes
            code, took = w.stop(timeout=30)
        finally:
            own_broker.signal(signal.SIGCONT)
    print(f"\nSIGTERM while the broker was paused: exit {code} after {took:.1f}s (grace 5 s)")
    assert code == 0
    assert took < 5 + 0.5  # the grace, and the interpreter's own exit


@pytest.mark.timeout(300)
async def test_a_broker_restarted_empty_mid_traffic_is_survived(
    own_broker: EmbeddedBroker, names: Names, tmp_path: Path
) -> None:
    disable_auto_creation()  # like a worker: only the worker recreates topics
    own_broker.start()
    env = worker_env(own_broker.bootstrap, names, tmp_path, **FAST)
    acked: list[tuple[float, str]] = []
    stop = asyncio.Event()
    with worker("metrics", env, tmp_path / "worker.log") as w:
        await wait_for(lambda: w.get("/readyz")[0] == 200, 30, "the worker to be ready")
        traffic = asyncio.create_task(_steady(own_broker.bootstrap, names.events, acked, stop))
        await wait_for(lambda: len(acked) >= 100, 30, "traffic before the restart")
        own_broker.stop()
        restarted = time.time()
        own_broker.start()
        await wait_for(
            lambda: sum(t > restarted for t, _ in acked) >= 150,
            90,
            "traffic acknowledged after the restart",
        )
        stop.set()
        await traffic
        after = [eid for t, eid in acked if t > restarted]
        await wait_for(lambda: set(after) <= set(metric_ids(tmp_path)), 60, "post-restart events")
        got = metric_ids(tmp_path)
        parts = await partitions_of({"bootstrap_servers": own_broker.bootstrap}, names.events)
        code, _ = w.stop()
    before = len(acked) - len(after)
    reached = sum(1 for _, eid in acked if eid in got)
    print(
        f"\nacked {len(acked)} ({before} before the restart); {reached} reached the metrics; "
        f"all {len(after)} acked after the restart did"
    )
    assert max(got.values()) == 1
    assert len(parts) == 3  # recreated with the configured partitions, not auto-created
    assert code == 0


async def _steady(
    bootstrap: str, topic: str, acked: list[tuple[float, str]], stop: asyncio.Event
) -> None:
    """One event every 20 ms; note when each was acknowledged (failures are retried)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    await producer.start()
    try:
        while not stop.is_set():
            event = make_event()
            try:
                await asyncio.wait_for(
                    producer.send_and_wait(topic, encode(event), key=b"steady"), 3
                )
                acked.append((time.time(), event.event_id))
            except (KafkaError, TimeoutError):
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.02)
    finally:
        await producer.stop()


@pytest.mark.timeout(300)
async def test_a_hung_chroma_keeps_metrics_flowing_and_its_lag_and_error_true(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    kafka_bootstrap = kafka.bootstrap
    chroma = ChromaServer(tmp_path / "chroma", tmp_path / "chroma.log").start()
    env = worker_env(
        kafka_bootstrap,
        names,
        tmp_path,
        chroma.url,
        TOOLTRAIL_STUCK_AFTER_S="3",
        TOOLTRAIL_CHROMA_TIMEOUT_S="2",
        **FAST,
    )
    memory_group = env["TOOLTRAIL_MEMORY_GROUP"]
    try:
        with worker("all", env, tmp_path / "worker.log") as w:
            await wait_for(lambda: w.get("/readyz")[0] == 200, 60, "every group ready")
            first = await produce(kafka_bootstrap, names.events, 60)
            await wait_for(
                lambda: w.metric("tooltrail_written_total", group=memory_group) == 60,
                60,
                "the first 60 memories",
            )
            chroma.signal(signal.SIGSTOP)
            second = await produce(kafka_bootstrap, names.events, 100)
            await wait_for(
                lambda: metric_ids(tmp_path) == Counter(first + second),
                30,
                "metrics to keep flowing",
            )
            await wait_for(
                lambda: w.metric("tooltrail_group_retrying", group=memory_group) == 1,
                60,
                "the memory group reported stuck",
            )
            status, body = w.get("/readyz")
            assert status == 503
            assert f"{memory_group} (stuck)" in body
            await wait_for(
                lambda: w.metric("tooltrail_lag", group=memory_group) == 100,
                30,
                "the true memory lag while Chroma hangs",
            )
            stats = _stats(env)["groups"][memory_group]
            assert stats["lag"] == 100  # what the brokers say, independently of the worker
            assert "chroma" in stats["lastError"]["error"].lower()
            chroma.signal(signal.SIGCONT)
            await wait_for(
                lambda: w.metric("tooltrail_written_total", group=memory_group) == 160,
                90,
                "the backlog of memories",
            )
            await wait_for(lambda: w.get("/readyz")[0] == 200, 30, "ready again")
        client = open_client(chroma.url)
        try:
            stored = client.get_collection(names.collection).get(include=["metadatas"])
            # one memory per situation: every event of the backlog merged in exactly once
            assert sum(int(m["occurrences"]) for m in stored["metadatas"] or []) == 160
        finally:
            close_client(client)
    finally:
        chroma.signal(signal.SIGCONT)
        chroma.stop()


def _stats(env: dict[str, str]) -> dict[str, object]:
    argv = [sys.executable, "-m", "tooltrail.consumers.app.cli", "stats", "--json"]
    out = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    data: dict[str, object] = orjson.loads(out.stdout)
    return data
