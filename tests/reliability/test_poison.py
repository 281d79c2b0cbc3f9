"""Nothing stops a consumer group: thousands of poison and valid messages through ``worker all``.

Every category of bad input (empty, not JSON, invalid UTF-8, too deep, NaN, duplicate keys,
huge values and keys, wrong types, impossible times, future versions, tombstones) is mixed
with valid events on a real broker; one worker process runs the metrics, memory and enrich
groups against a real Chroma. Accounting must be exact: every valid event once in the metrics
files and once in Chroma, every poison message dead-lettered by every group with a reason,
the worker alive throughout, and its memory flat between the first quarter and the end.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.kafka_helpers import read_topic, wait_for
from tests.processes import worker, worker_env
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.consumers.kafka.dlq import read_dead_letter
from tooltrail.consumers.kafka.offsets import committed_offsets
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.memory.chroma import close_client, open_client
from tooltrail.consumers.memory.situations import situation_of
from tooltrail.consumers.sinks.metrics import segments
from tooltrail.schemas import SchemaDecodeError, ToolExecutionEvent, encode
from tooltrail.schemas.codec import decode_one

pytestmark = pytest.mark.reliability
V1 = {"toolId": "oc_read_get_pods", "timestamp": "2026-03-01T10:00:00.123Z", "elapsedMs": 5}


def _event_json(**changes: Any) -> dict[str, Any]:
    wire: dict[str, Any] = orjson.loads(encode(make_event()))
    wire.update(changes)
    return wire


def poison(rnd: random.Random) -> tuple[bytes | None, bytes | None]:
    """(key, value) of one message no group may write."""
    good = encode(make_event())
    kind = rnd.randrange(17)
    key: bytes | None = b"bad"
    value: bytes | None = {
        0: b"",
        1: b"\x00garbage",
        2: b'{"toolId": "\xff\xfe"}',
        3: b"[" * 3000 + b"]" * 3000,
        4: good.replace(b'"elapsedMs":12.5', b'"elapsedMs":NaN'),
        5: good[:-1] + b',"elapsedMs":"slow"}',  # a duplicate key whose last value is bad
        6: b'{"pad":"' + b"x" * 1_100_000 + b'"}',
        7: orjson.dumps(_event_json(endedAt="9999-12-31T23:59:59-14:00")),
        8: orjson.dumps(_event_json(elapsedMs=1e25)),
        9: orjson.dumps(_event_json(schemaVersion="2")),
        10: orjson.dumps(_event_json(flags="abc", opType=[1], args="x")),
        11: orjson.dumps({**V1, "elapsedMs": "nan"}),
        12: orjson.dumps({**V1, "timestamp": "9999-12-31T23:59:59-14:00"}),
        13: None,
        14: orjson.dumps(_event_json(schemaVersion=3)),
        15: orjson.dumps(_event_json(toolId="t" * 201)),
        16: b"[1, 2]",
    }[kind]
    if kind == 6 or rnd.random() < 0.01:
        key = b"k" * 900_000  # a huge key must not stall the dead-letter topic either
    return key, value


def valid(rnd: random.Random, i: int) -> tuple[bytes | None, bytes]:
    """(key, value) of one message every group must write once."""
    r = rnd.random()
    if r < 0.05:  # schemaVersion 2.0 is the integer 2
        return b"s", orjson.dumps(_event_json(schemaVersion=2.0, toolId=f"oc_read_get_pods_{i}"))
    if r < 0.10:  # v1 record with junk flags: the flags are informational, the call is valid
        return b"v1", orjson.dumps({**V1, "sessionId": f"seed-{i}", "flags": "abc"})
    if r < 0.12:  # a valid event under a huge key
        return b"k" * 900_000, encode(make_event(session_id=f"big-key-{i}"))
    event = make_event(
        tool_id=rnd.choice(["oc_read_get_pods", "oc_read_logs", "oc_diag_x"]),
        args={"namespace": f"ns-{i % 37}", "pod": f"web-{i}"},
    )
    return event.session_id.encode(), encode(event)


async def _produce(
    bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes | None]]
) -> list[int]:
    """Send in order to partition 0; return each message's offset."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, max_request_size=4_000_000, linger_ms=5
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=k, partition=0) for k, v in messages]
        return [(await f).offset for f in futures]
    finally:
        await producer.stop()


@pytest.mark.timeout(600)
async def test_worker_all_survives_every_kind_of_poison_with_exact_accounting(
    kafka: KafkaEndpoint, chroma: ChromaServer, names: Names, tmp_path: Path
) -> None:
    rnd = random.Random(11)
    messages = [poison(rnd) if rnd.random() < 0.35 else valid(rnd, i) for i in range(1600)]
    messages += rnd.sample(
        [m for m in messages if m[1] and m[1].startswith(b"{")], 60
    )  # redeliveries
    results = [decode_one(v, ToolExecutionEvent) for _, v in messages]
    events = {r.event_id: r for r in results if isinstance(r, ToolExecutionEvent)}
    bad = [i for i, r in enumerate(results) if isinstance(r, SchemaDecodeError)]
    assert len(bad) > 450  # the mix is what it says: each of the 17 kinds ~30 times
    assert len(events) > 800
    env = worker_env(kafka.bootstrap, names, tmp_path, chroma.url, TOOLTRAIL_MAX_POLL_RECORDS="500")
    await ensure_topics({"bootstrap_servers": kafka.bootstrap}, [TopicSpec(names.events, 1)])
    quarter = len(messages) // 4
    with worker("all", env, tmp_path / "worker.log") as w:
        offsets = await _produce(kafka.bootstrap, names.events, messages[:quarter])
        await wait_for(lambda: _done(w, env, len(offsets)), 240, "the first quarter everywhere")
        rss_first = w.rss_mb()
        offsets += await _produce(kafka.bootstrap, names.events, messages[quarter:])
        await wait_for(lambda: _done(w, env, len(offsets)), 400, "every message everywhere")
        await committed_everywhere(kafka.bootstrap, env, names.events, offsets[-1] + 1, 120)
        rss_end = w.rss_mb()
        assert w.proc.poll() is None, "the worker died"
        code, took = w.stop()
    print(
        f"\nsent {len(messages)}: valid {len(events)} distinct, poison {len(bad)}; "
        f"RSS {rss_first:.0f} MB after a quarter, {rss_end:.0f} MB at the end; stop {took:.1f}s"
    )
    assert code == 0
    assert rss_end - rss_first < 120, "resident memory grew with poison messages"
    metrics = Counter(
        orjson.loads(line)["eventId"]
        for p in segments(tmp_path / "metrics")
        for line in p.read_bytes().splitlines()
    )
    assert metrics == Counter(set(events))  # each valid event exactly once
    _check_chroma(chroma.url, names.collection, events)
    await _check_dead_letters(kafka.bootstrap, names, env, {offsets[i] for i in bad})


async def committed_everywhere(
    bootstrap: str, env: dict[str, str], topic: str, end: int, timeout: float
) -> None:
    """Wait until every group committed partition 0 of ``topic`` up to ``end``.

    ``_done`` alone can hold early: consumed counts re-reads, and a group that owns nothing
    in a rebalance reports no lag; a worker stopped then leaves records unwritten (not lost:
    uncommitted) whose letters the test would miss."""
    tp = TopicPartition(topic, 0)
    groups = [env[f"TOOLTRAIL_{g}_GROUP"] for g in ("METRICS", "MEMORY", "ENRICH")]
    deadline = time.monotonic() + timeout
    while True:
        got = [
            (await committed_offsets({"bootstrap_servers": bootstrap}, g, [tp]))[tp] for g in groups
        ]
        if got == [end] * len(groups):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"committed {dict(zip(groups, got, strict=True))}, not {end}")
        await asyncio.sleep(0.2)


def _done(w: Any, env: dict[str, str], total: int) -> bool:
    """Every group consumed ``total`` messages and committed all of them."""
    groups = [env[f"TOOLTRAIL_{g}_GROUP"] for g in ("METRICS", "MEMORY", "ENRICH")]
    consumed = [w.metric("tooltrail_consumed_total", group=g) for g in groups]
    return all(c >= total for c in consumed) and w.metric("tooltrail_lag") == 0


def _check_chroma(url: str, collection: str, events: dict[str, ToolExecutionEvent]) -> None:
    client = open_client(url)
    try:
        stored = client.get_collection(collection).get(include=["metadatas"])
    finally:
        close_client(client)
    got = stored["ids"]
    assert len(got) == len(set(got))
    assert sorted(got) == sorted({situation_of(e).id for e in events.values()})
    # each valid event counted once in its situation, poison and redeliveries in none
    assert sum(int(m["occurrences"]) for m in stored["metadatas"]) == len(events)


async def _check_dead_letters(
    bootstrap: str, names: Names, env: dict[str, str], poison_offsets: set[int]
) -> None:
    groups = [env[f"TOOLTRAIL_{g}_GROUP"] for g in ("METRICS", "MEMORY", "ENRICH")]
    want = len(poison_offsets) * len(groups)
    records = await read_topic(bootstrap, names.dlq, until=lambda r: len(r) >= want, timeout=60)
    letters = [read_dead_letter(r, with_value=False) for r in records]
    assert len(letters) == want
    for group in groups:
        mine = [d for d in letters if d.group == group]
        assert sorted(d.source_offset for d in mine) == sorted(poison_offsets), group
        assert all(d.error and d.error != "?" for d in mine)
    assert any(d.key_size == 900_000 and d.truncated for d in letters)
    assert any(d.size > 1_000_000 and d.truncated for d in letters)
