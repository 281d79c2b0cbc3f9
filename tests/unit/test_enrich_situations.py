"""The enrich group's hits: distinct situations of the caller's scope, one query per batch.

On a real embedded Chroma directory with the hashing embedder; no Kafka (``_compute`` only).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_consolidate import traffic
from tooltrail.consumers.memory.situations import situation_of
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.enrich import EnrichSink
from tooltrail.consumers.sinks.memory import consolidate_into
from tooltrail.schemas import ToolExecutionEvent
from tooltrail.schemas.keys import cache_key


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[EnrichSink]:
    settings = WorkerSettings(chroma_path=tmp_path / "chroma", embedder="hashing", enrich_k=3)
    from tooltrail.consumers.memory.embedders import HashingEF

    enrich = EnrichSink(settings, HashingEF())
    events = traffic(200, "prod") + traffic(200, "dev")
    consolidate_into(enrich.store, [situation_of(e) for e in events])
    yield enrich
    enrich.store.close()


def compute(sink: EnrichSink, events: list[ToolExecutionEvent]) -> dict[str, Any]:
    latest = {cache_key(e.tool_id, e.args): e for e in events}
    records = {key: situation_of(e) for key, e in latest.items()}
    return {e.key: e for e in sink._compute(latest, records)}


def test_hits_are_distinct_other_situations_with_counts_and_one_query_per_scope(
    sink: EnrichSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    query_many = sink.store.query_many

    def counted(vectors: list[Any], k: int, where: Any = None) -> Any:
        calls.append(len(vectors))
        return query_many(vectors, k, where)

    monkeypatch.setattr(sink.store, "query_many", counted)
    events = traffic(60, "prod")[-30:]
    entries = compute(sink, events)
    assert len(calls) == 2  # batched for every key of the scope: nearest, nearest telling
    assert calls[0] == calls[1] == len(entries) > 3
    for key, entry in entries.items():
        own = situation_of([e for e in events if cache_key(e.tool_id, e.args) == key][-1]).id
        ids = [h.id for h in entry.hits]
        assert len(entry.hits) == 3
        assert own not in ids
        assert len(set(ids)) == len(ids)
        assert len({h.summary for h in entry.hits}) == len(ids)  # never two of one situation
        assert all(h.occurrences and h.occurrences >= 1 for h in entry.hits)
        assert all(h.tool == "oc_read_logs" for h in entry.hits)
        assert any(h.kind == "failure" for h in entry.hits)  # not only routine successes


def test_scopes_never_cross(sink: EnrichSink) -> None:
    dev = {s.id for s in map(situation_of, traffic(200, "dev"))}
    prod = {s.id for s in map(situation_of, traffic(200, "prod"))}
    assert not dev & prod
    for entry in compute(sink, traffic(40, "dev")).values():
        assert {h.id for h in entry.hits} <= dev
    for entry in compute(sink, traffic(40, "prod")).values():
        assert {h.id for h in entry.hits} <= prod


def test_the_own_situation_only_when_asked(sink: EnrichSink) -> None:
    sink.settings = sink.settings.model_copy(update={"enrich_include_own_situation": True})
    events = traffic(10, "prod")
    entries = compute(sink, events)
    owns = [situation_of(e).id for e in events]
    assert any(h.id in owns for entry in entries.values() for h in entry.hits)


def test_a_failure_outranks_a_slightly_nearer_routine_success() -> None:
    from tests.factories import make_event
    from tooltrail.consumers.memory.store import Row
    from tooltrail.consumers.sinks.enrich import entry_for

    routine = {
        "schema": "situation/1",
        "outcome": "ok",
        "salient": "ok",
        "ts": 1,
        "kind": "tool_exec",
    }
    failure = {**routine, "outcome": "tool_error", "salient": "OOMKilled", "kind": "failure"}
    rows = [
        Row("sit-a", "t ok: ok (namespace=a)", routine, 0.30),
        Row("sit-b", "t tool_error: OOMKilled (namespace=a)", failure, 0.40),
        Row("sit-c", "t ok: ok (namespace=c)", routine, 0.90),
    ]
    entry = entry_for("k", make_event(), rows, 2)
    assert [h.id for h in entry.hits] == ["sit-b", "sit-a"]
    assert entry.hits[1].distance == 0.30  # reported as measured


def test_a_per_call_memory_written_before_situations_still_makes_a_hit() -> None:
    from tests.factories import make_event
    from tooltrail.consumers.memory.records import to_memory
    from tooltrail.consumers.memory.store import Row
    from tooltrail.consumers.sinks.enrich import entry_for

    old = to_memory(make_event(outcome="tool_error", error_summary="pod web-1 not found"))
    rows = [Row(old.id, old.document, dict(old.metadata), 0.2)]
    [hit] = entry_for("k", make_event(), rows, 3).hits
    assert hit.id == old.id
    assert hit.occurrences == 1
    assert hit.tool == "oc_read_get_pods"
    assert hit.summary.startswith("oc_read_get_pods tool_error: pod web-1 not found")
