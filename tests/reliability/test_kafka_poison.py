"""Poison at the Kafka layer through ``worker all`` on a real broker: keys, headers, codecs,
sizes. No valid event is lost or written twice by any group, every poison record is
accounted for by every group (dead-lettered with its reason, or counted when even a minimal
letter is refused), the lag ends at 0, and a compression bomb costs no memory to speak of.

The records are put on the topic as raw batches (``tests.kafka_helpers.produce_batch``), so
they are exactly what a producer in any language could write: valid events and poison share
batches, so a record that broke its fetch would take its neighbours with it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.kafka_helpers import produce_batch, read_topic, wait_for
from tests.processes import worker, worker_env
from tests.reliability.test_poison import _check_chroma, _done, committed_everywhere
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.consumers.kafka.dlq import read_dead_letter
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.sinks.metrics import segments
from tooltrail.schemas import ToolExecutionEvent, encode
from tooltrail.schemas.kafka.batches import RawRecord, encode_batch

pytestmark = pytest.mark.reliability
GROUPS = ("METRICS", "MEMORY", "ENRICH")


class Plan:
    """The batches to send, in order on partition 0, and what each offset is."""

    def __init__(self) -> None:
        self.batches: list[bytes] = []
        self.valid: dict[str, ToolExecutionEvent] = {}
        self.poison: dict[int, str] = {}  # offset -> what the letter's reason must say
        self.offset = 0

    def event(self, i: int, key: bytes | None = b"s", **headers: bytes) -> RawRecord:
        e = make_event(session_id=f"kafka-poison-{i}", args={"pod": f"web-{i}"})
        self.valid[e.event_id] = e
        return RawRecord(key, encode(e), list(headers.items()))

    def add(self, records: list[RawRecord], compression: str = "none", **poison: str) -> None:
        for index, why in poison.items():
            self.poison[self.offset + int(index.removeprefix("at"))] = why
        self.batches.append(encode_batch(records, compression=compression))
        self.offset += len(records)


def plan() -> Plan:
    p = Plan()
    n = 0
    warm_up = [p.event(-i) for i in range(1, 31)]
    p.add(warm_up)

    def ev(**kw: object) -> RawRecord:
        nonlocal n
        n += 1
        return p.event(n, **kw)  # type: ignore[arg-type]

    p.add([ev(), RawRecord(None, None), ev()], at1="tombstone")  # no key and no value
    bad_name = RawRecord(b"s", encode(make_event()), [(b"\xff\xfename", b"x")])
    p.add([ev(), bad_name, ev()], "gzip", at1="header name(s) of the record are not UTF-8")
    p.add([ev(), ev(key=None), ev(key=b""), ev(key=b"k" * 900_000)], "lz4")  # keys
    huge = RawRecord(b"s", encode(make_event()), [(b"", b"")] * 100_000)
    p.valid[orjson.loads(huge.value or b"{}")["eventId"]] = ToolExecutionEvent.model_validate_json(
        huge.value or b""
    )
    p.add([ev(), huge, ev()])  # 100,000 empty headers on a valid event
    bomb = [RawRecord(b"b", b'{"args":[' + b"{}," * 300_000 + b"{}]}") for _ in range(20)]
    p.add(bomb, "gzip", **{f"at{i}": "gzip batch of 20 records inflates beyond" for i in range(20)})
    for codec in ("zstd", "snappy", "none"):
        p.add([ev() for _ in range(30)], codec)
    return p


@pytest.mark.timeout(300)
async def test_kafka_layer_poison_costs_no_valid_event_in_any_group(
    kafka: KafkaEndpoint, chroma: ChromaServer, names: Names, tmp_path: Path
) -> None:
    p = plan()
    env = worker_env(
        kafka.bootstrap, names, tmp_path, chroma.url, TOOLTRAIL_MAX_BATCH_BYTES="8388608"
    )
    await ensure_topics({"bootstrap_servers": kafka.bootstrap}, [TopicSpec(names.events, 1)])
    with worker("all", env, tmp_path / "worker.log") as w:
        await produce_batch(kafka.bootstrap, names.events, 0, p.batches[0])  # valid only
        await wait_for(lambda: _done(w, env, 30), 120, "the warm-up batch everywhere")
        rss_before = w.rss_mb()
        for batch in p.batches[1:]:
            await produce_batch(kafka.bootstrap, names.events, 0, batch)
        await wait_for(lambda: _done(w, env, p.offset), 120, "every record everywhere")
        await committed_everywhere(kafka.bootstrap, env, names.events, p.offset, 120)
        peak = w.peak_rss_mb()
        lost = {
            g: w.metric("tooltrail_letters_lost_total", group=env[f"TOOLTRAIL_{g}_GROUP"])
            for g in GROUPS
        }
        assert w.proc.poll() is None, "the worker died"
        code, _ = w.stop()
    print(f"\nRSS {rss_before:.0f} MB before the poison, peak {peak:.0f} MB; letters lost {lost}")
    assert code == 0
    assert peak - rss_before < 150, "a compression bomb cost memory"
    metrics = Counter(
        orjson.loads(line)["eventId"]
        for seg in segments(tmp_path / "metrics")
        for line in seg.read_bytes().splitlines()
    )
    assert metrics == Counter(set(p.valid))  # every valid event exactly once
    _check_chroma(chroma.url, names.collection, p.valid)
    await _check_letters(kafka.bootstrap, names, env, p, lost)


async def _check_letters(
    bootstrap: str, names: Names, env: dict[str, str], p: Plan, lost: dict[str, float]
) -> None:
    """Each group dead-letters every poison offset with its reason (at least once: a batch of
    letters that failed is sent again one by one); none is lost."""
    sent = {g: len(p.poison) - int(lost[g]) for g in GROUPS}

    def complete(records: list[Any]) -> bool:
        found = {(d.group, d.source_offset) for d in map(read_dead_letter, records)}
        return len(found) >= sum(sent.values())

    records = await read_topic(bootstrap, names.dlq, until=complete, timeout=60)
    first = len(records)
    if not complete(records):  # one full run in five missed 2 of 66: read once more afresh
        again = await read_topic(bootstrap, names.dlq, until=complete, timeout=30)
        seen = {(r.partition, r.offset) for r in records}
        records += [r for r in again if (r.partition, r.offset) not in seen]
        print(f"\nfirst read {first} letters, a second read added {len(records) - first}")
    letters = [read_dead_letter(r, with_value=False) for r in records]
    for g in GROUPS:
        group = env[f"TOOLTRAIL_{g}_GROUP"]
        mine = {d.source_offset: d.error for d in letters if d.group == group}
        assert len(mine) == sent[g], g
        assert int(lost[g]) == 0, g
        for offset, why in p.poison.items():
            assert why in mine[offset], (g, offset, mine[offset])
