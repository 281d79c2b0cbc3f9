"""Retention and the per-scope cap, on a real embedded Chroma directory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.factories import make_event
from tests.unit.test_consolidate import T0
from tooltrail.consumers.memory.embedders import HashingEF
from tooltrail.consumers.memory.retention import DAY_MS, sweep
from tooltrail.consumers.memory.situations import situation_of
from tooltrail.consumers.memory.store import MemoryStore
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.memory import consolidate_into
from tooltrail.schemas import ToolExecutionEvent
from tooltrail.schemas.events import Tags


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    settings = WorkerSettings(chroma_path=tmp_path / "chroma", embedder="hashing")
    s = MemoryStore(settings, HashingEF())
    yield s
    s.close()


def _call(namespace: str, day: int, env: str = "prod") -> ToolExecutionEvent:
    return make_event(
        args={"namespace": namespace},
        ended_at=T0 + timedelta(days=day),
        tags=Tags(environment=env),
    )


def _ids(store: MemoryStore) -> set[str]:
    store.ensure()
    return set(store.collection("tool_exec").get(include=[])["ids"])


def test_situations_not_seen_for_the_retention_are_swept_in_bounded_steps(
    store: MemoryStore,
) -> None:
    old = [_call(f"old{c}", 0) for c in "abcde"]
    seen_again = [_call("kept", 0), _call("kept", 35)]  # one situation, seen again on day 35
    consolidate_into(store, [situation_of(e) for e in old + seen_again])
    now = int(T0.timestamp() * 1000) + 40 * DAY_MS
    first = sweep(store, now, 30, 0, set(), budget=3)
    assert first.expired == 3  # bounded work per sweep
    second = sweep(store, now, 30, 0, set(), budget=3)
    assert second.expired == 2
    assert _ids(store) == {situation_of(seen_again[0]).id}
    assert sweep(store, now, 0, 0, set()).expired == 0  # 0 days: keep everything


def test_a_scope_over_its_cap_loses_the_situations_seen_longest_ago_and_only_its_own(
    store: MemoryStore,
) -> None:
    prod = [_call(f"ns{c}", day) for day, c in enumerate("abcd")]
    dev = [_call(f"ns{c}", day, "dev") for day, c in enumerate("abcd")]
    consolidate_into(store, [situation_of(e) for e in prod + dev])
    result = sweep(store, 0, 0, 2, {("prod", "general"), ("dev", "general")})
    assert result.evicted == 4
    kept = _ids(store)
    assert kept == {situation_of(e).id for e in prod[2:] + dev[2:]}


def test_a_collection_wiped_under_the_worker_is_noticed_marked_and_counted(
    store: MemoryStore,
) -> None:
    consolidate_into(store, [situation_of(_call("a", 0))])
    assert store.store_resets == 0
    store.forget()  # a reconnect to the same data: not a reset
    store.ensure()
    assert store.store_resets == 0
    store.ensure()
    store._client.delete_collection(store.names["tool_exec"])  # the data is gone
    store.forget()
    consolidate_into(store, [situation_of(_call("b", 1))])
    assert store.store_resets == 1
    meta = store.collection("tool_exec").metadata
    assert meta["resetDetectedAt"]
    assert store.store_reset_at == meta["resetDetectedAt"]  # what `tooltrail stats` shows
    assert meta["embedder"] == store.embedder_id  # the mark keeps what the store needs
