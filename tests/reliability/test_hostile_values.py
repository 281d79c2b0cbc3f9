"""Messages built to cost memory go to the dead-letter topic and cost a worker next to nothing.

A real ``worker metrics`` process reads valid events interleaved with ~1 MiB messages that
grow into tens of MiB of objects once parsed (349,000 empty objects, 250,000 numbers, 300
levels of nesting), compressed so each batch is a few KB on the wire. Every valid event is
written once, every hostile one is dead-lettered with its reason, the lag ends at 0, and the
worker's peak resident memory stays where a round of valid events alone left it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.kafka_helpers import read_topic, wait_for
from tests.processes import worker, worker_env
from tooltrail.consumers.kafka.dlq import read_dead_letter
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.sinks.metrics import segments
from tooltrail.schemas import encode

pytestmark = pytest.mark.reliability
ROUNDS = 6  # after a baseline round, each round: 10 hostile messages among 50 valid events


def _hostile(kind: int) -> bytes:
    event = encode(make_event())[:-1]
    bodies = [
        b"[" + b"{}," * 349_000 + b"{}]",  # ~1 MiB: was ~48 MiB of dicts
        b"[" + b"0," * 500_000 + b"0]",  # ~1 MiB of numbers
        b"[" * 300 + b"]" * 300,  # past the nesting limit
        b"{" + b'"k":{},' * 140_000 + b'"z":1}',  # members, not items of an array
    ]
    return event + b',"args":{"a":' + bodies[kind % len(bodies)] + b"}}"


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _send(bootstrap: str, topic: str, messages: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, compression_type="gzip", max_request_size=4_000_000
    )
    await producer.start()
    try:
        for value in messages:  # one at a time: a batch holds one hostile message at most
            await producer.send_and_wait(topic, value, key=b"s", partition=0)
    finally:
        await producer.stop()


def _round(index: int) -> tuple[list[bytes], list[str]]:
    """Round 0 is valid events only (the baseline); the others hold 10 hostile messages."""
    events = [make_event(session_id=f"r{index}-{i}") for i in range(50)]
    messages = [encode(e) for e in events]
    for k in range(10 if index else 0):
        messages.insert(k * 5 + 2, _hostile(k))
    return messages, [e.event_id for e in events]


@pytest.mark.timeout(600)
async def test_hostile_values_are_dead_lettered_and_peak_memory_stays_flat(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    env = worker_env(kafka.bootstrap, names, tmp_path, TOOLTRAIL_MAX_POLL_RECORDS="100")
    await ensure_topics({"bootstrap_servers": kafka.bootstrap}, [TopicSpec(names.events, 1)])
    group = env["TOOLTRAIL_METRICS_GROUP"]
    sent, valid_ids = 0, []
    with worker("metrics", env, tmp_path / "worker.log") as w:
        peaks = []
        for index in range(ROUNDS):
            messages, ids = _round(index)
            await _send(kafka.bootstrap, names.events, messages)
            sent, valid_ids = sent + len(messages), valid_ids + ids
            await wait_for(lambda n=sent: _settled(w, group, n), 120, f"round {index} consumed")
            peaks.append(_peak_rss_mb(w.proc.pid))
        assert w.proc.poll() is None, "the worker died"
        code, _ = w.stop()
    print(f"\npeak RSS after each round (MB): {[round(p) for p in peaks]}")
    assert code == 0
    assert peaks[-1] - peaks[0] < 40, "hostile messages raised the peak over the baseline"
    written = Counter(
        orjson.loads(line)["eventId"]
        for p in segments(tmp_path / "metrics")
        for line in p.read_bytes().splitlines()
    )
    assert written == Counter(valid_ids)  # each valid event exactly once
    hostile = 10 * (ROUNDS - 1)
    records = await read_topic(
        kafka.bootstrap, names.dlq, until=lambda r: len(r) >= hostile, timeout=60
    )
    reasons = [read_dead_letter(r, with_value=False).error for r in records]
    assert len(reasons) == hostile
    assert all(_expected(reason) for reason in reasons), Counter(reasons)


def _settled(w: Any, group: str, total: int) -> bool:
    return w.metric("tooltrail_consumed_total", group=group) >= total and (
        w.metric("tooltrail_lag", group=group) == 0
    )


def _expected(reason: str) -> bool:
    return "over the 20000-value limit" in reason or reason.startswith(
        ("nested ", "an array or object of over 10000 items")
    )
