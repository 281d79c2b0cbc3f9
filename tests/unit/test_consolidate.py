"""Consolidation into situations on a real embedded Chroma directory (hashing embedder).

Replay equals live whatever the batching and order, a redelivery changes nothing, only new
situations are embedded, and situations of two environments never merge.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.factories import make_event
from tooltrail.consumers.memory.embedders import HashingEF
from tooltrail.consumers.memory.situations import situation_of
from tooltrail.consumers.memory.store import MemoryStore
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.memory import consolidate_into
from tooltrail.schemas import ToolExecutionEvent
from tooltrail.schemas.events import Tags

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def traffic(n: int, env: str = "prod") -> list[ToolExecutionEvent]:
    """Recurring situations inside per-call noise (pods, request ids, times, sessions)."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        pod = f"api-{rng.choice(['7d9f8b6c5d', '6b7c8d9f54'])}-{rng.choice(['x2k4p', 'bq9zt'])}"
        ns = rng.choice(["payments", "checkout", "search"])
        failing = i % 5 == 0
        out.append(
            make_event(
                event_id=f"e{i:05d}",
                session_id=f"s{rng.randrange(40)}",
                ended_at=T0 + timedelta(seconds=i),
                outcome="tool_error" if failing else "ok",
                tool_id="oc_read_logs",
                args={"namespace": ns, "pod": pod},
                error_summary=f"pod {pod} failed" if failing else None,
                result_summary=(
                    f"{T0.isoformat()} INFO req {rng.getrandbits(48):012x} served in "
                    f"{rng.randrange(900)}ms from 10.0.{rng.randrange(255)}.{rng.randrange(255)}"
                    + ("\nERROR OOMKilled: memory limit 512Mi exceeded" if failing else "")
                ),
                tags=Tags(environment=env),
            )
        )
    return out


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[MemoryStore, MemoryStore]]:
    settings = WorkerSettings(chroma_path=tmp_path / "chroma", embedder="hashing")
    live = MemoryStore(
        settings, HashingEF(), dict.fromkeys(("tool_exec", "failure", "incident"), "live_mem")
    )
    rebuilt = MemoryStore(
        settings, HashingEF(), dict.fromkeys(("tool_exec", "failure", "incident"), "rebuilt_mem")
    )
    yield live, rebuilt
    live.close()
    rebuilt.close()


def everything(store: MemoryStore) -> dict[str, tuple[dict[str, Any], str]]:
    store.ensure()
    got = store.collection("tool_exec").get(include=["metadatas", "documents"])
    return {
        i: (dict(m), d)
        for i, m, d in zip(got["ids"], got["metadatas"], got["documents"], strict=True)
    }


def feed(store: MemoryStore, events: list[ToolExecutionEvent], size: int) -> int:
    embedded = 0
    for start in range(0, len(events), size):
        merged = consolidate_into(store, [situation_of(e) for e in events[start : start + size]])
        embedded += sum(m.embed for m in merged)
    return embedded


def test_replay_in_other_batches_and_order_equals_live_and_redelivery_changes_nothing(
    stores: tuple[MemoryStore, MemoryStore],
) -> None:
    live, rebuilt = stores
    events = traffic(300)
    embedded = feed(live, events, 16)
    situations = everything(live)
    assert len(situations) < 40  # far fewer memories than the 300 calls
    assert embedded == len(situations)  # a known situation is never embedded again
    assert sum(int(m["occurrences"]) for m, _ in situations.values()) == 300
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)
    feed(rebuilt, shuffled, 64)
    assert everything(rebuilt) == situations
    assert feed(live, events[100:140], 7) == 0  # redelivered: nothing new, nothing embedded
    assert feed(live, events[-16:], 16) == 0  # the last batch again, as after a crash
    assert everything(live) == situations


def test_a_situation_carries_counts_times_recent_ids_sessions_and_its_latest_salient_line(
    stores: tuple[MemoryStore, MemoryStore],
) -> None:
    live, _ = stores
    events = [e for e in traffic(200) if e.outcome.value == "tool_error"]
    feed(live, events, 10)
    by_count = sorted(everything(live).values(), key=lambda md: -int(md[0]["occurrences"]))
    meta, document = by_count[0]
    assert meta["schema"] == "situation/1"
    assert meta["salient"] == "ERROR OOMKilled: memory limit 512Mi exceeded"
    assert document.startswith("oc_read_logs tool_error: ERROR OOMKilled")
    ids = orjson.loads(str(meta["eventIds"]))
    assert len(ids) == 8
    assert ids == sorted(ids)  # the most recent by time (ids grow with time here)
    assert meta["lastTs"] == meta["ts"] >= meta["firstTs"]
    assert str(meta["lastSeen"]).endswith("Z")
    assert 1 < int(meta["sessions"]) <= 40


def test_two_environments_never_share_a_situation(stores: tuple[MemoryStore, MemoryStore]) -> None:
    live, _ = stores
    feed(live, traffic(50, "prod") + traffic(50, "dev"), 25)
    found = everything(live).values()
    prod = {m["signature"] for m, _ in found if m["environment"] == "prod"}
    dev = {m["signature"] for m, _ in found if m["environment"] == "dev"}
    assert prod == dev  # the same situations, stored once per environment
    assert sum(int(m["occurrences"]) for m, _ in found if m["environment"] == "dev") == 50


def _sink_total(tmp_path: Path, window: int) -> int:
    import asyncio

    from tooltrail.consumers.sinks.base import Delivered
    from tooltrail.consumers.sinks.memory import MemorySink

    settings = WorkerSettings(
        chroma_path=tmp_path / f"chroma-{window}", embedder="hashing", memory_dedup_window=window
    )
    events = traffic(300)

    async def run() -> int:
        sink = MemorySink(settings, HashingEF())
        await sink.start()
        try:
            for again in range(2):  # everything resent once, long after (outside the 64 window)
                for start in range(0, 300, 50):
                    batch = events[start : start + 50]
                    await sink.write(
                        [Delivered(e, 0, again * 300 + start + i) for i, e in enumerate(batch)]
                    )
            got = await sink.lane.run(
                lambda: sink.store.collection("tool_exec").get(include=["metadatas"])
            )
            return sum(int(m["occurrences"]) for m in got["metadatas"])
        finally:
            await sink.close()

    return asyncio.run(run())


def test_the_writers_dedup_window_keeps_old_redeliveries_out_of_the_counts(tmp_path: Path) -> None:
    assert _sink_total(tmp_path, 1000) == 300
    assert _sink_total(tmp_path, 0) > 300  # without it, only each situation's window helps
