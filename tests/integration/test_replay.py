"""Replay rebuilds the vector memories from the topic: equal to live, resumable, swappable."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import KafkaEndpoint, Names
from tests.integration.test_memory_worker import memory_settings, varied_events
from tests.integration.test_metrics_worker import running
from tests.kafka_helpers import wait_for
from tooltrail.consumers import replay
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.consumers.errors import RetriableSinkError
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.memory.chroma import close_client, open_client
from tooltrail.consumers.memory.embedders import HashingEF
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.sinks.memory import MemorySink
from tooltrail.schemas import ToolExecutionEvent, encode

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


@pytest.fixture
def client(chroma: ChromaServer) -> Iterator[Any]:
    c = open_client(chroma.url)
    yield c
    close_client(c)


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "tooltrail.consumers.app.cli",
        "replay",
        "memory",
        "--json",
        *args,
    ]
    out = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    result: dict[str, Any] = orjson.loads(out.stdout)
    return result


async def _send(
    kafka: KafkaEndpoint, topic: str, events: list[ToolExecutionEvent], *raw: tuple[bytes, bytes]
) -> None:
    """Each event keyed by its session, then each raw (value, key) record; all flushed."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for event in events:
            await producer.send(topic, encode(event), key=event.session_id.encode())
        for value, key in raw:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def _documents(client: Any, name: str) -> dict[str, str]:
    return {i: doc for i, (doc, _) in _contents(client, name).items()}


def _contents(client: Any, name: str) -> dict[str, tuple[str, Any]]:
    got = client.get_collection(name).get(include=["documents", "metadatas"])
    return dict(zip(got["ids"], zip(got["documents"], got["metadatas"], strict=True), strict=True))


async def test_replay_equals_live_resumes_and_swaps(
    kafka: KafkaEndpoint, names: Names, chroma: ChromaServer, client: Any, tmp_path: Path
) -> None:
    settings = memory_settings(
        kafka,
        names,
        chroma.url,
        tmp_path,
        embedder="hashing",
        state_dir=tmp_path / "state",
        max_poll_records=10,
    )
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
    ago = timedelta(minutes=10)  # older than the replay: a rebuild must hold them
    events = [
        e.model_copy(update={"ended_at": e.ended_at - ago, "started_at": e.started_at - ago})
        for e in varied_events(40)
    ]
    # 5 resent by the producer (same memories), then one record that is no event
    await _send(kafka, names.events, [*events, *events[:5]], (b"not an event", b"x"))
    live = GroupRunner(settings, settings.memory_group, MemorySink(settings, HashingEF()))
    async with running(live):
        await wait_for(lambda: live.stats.written == 45, 60, "the live memories")
    live_contents = _contents(client, names.collection)
    assert len(live_contents) == 3  # 40 calls of 3 situations; the 5 resent count once
    assert sum(meta["occurrences"] for _, meta in live_contents.values()) == 40

    # an interrupted replay resumes where it stopped
    state = await replay.plan(settings, None, None, fresh=True)
    calls = 0

    def interrupt(done: int, total: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await replay.run(settings, state, interrupt)
    resumed = await replay.plan(settings, None, None, fresh=False)
    assert resumed.stamp == state.stamp
    assert 0 < resumed.done < resumed.total == 46
    await replay.run(settings, resumed, lambda done, total: None)
    check = replay.verify(settings, resumed)
    assert check["ok"]
    assert check["count"] == 3
    assert _contents(client, resumed.targets["tool_exec"]) == live_contents
    replay.forget(settings)

    env = {
        "PATH": "",
        "HOME": str(tmp_path),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "TOOLTRAIL_EVENTS_TOPIC": names.events,
        "TOOLTRAIL_CHROMA_URL": chroma.url,
        "TOOLTRAIL_CHROMA_COLLECTION": names.collection,
        "TOOLTRAIL_EMBEDDER": "hashing",
        "TOOLTRAIL_STATE_DIR": str(tmp_path / "cli-state"),
    }
    future = _cli(env, "--dry-run", "--since", "2999-01-01T00:00:00Z")
    assert future["to_read"] == 0  # not a full replay from offset 0
    assert future["compare"]["live"] == 3
    assert future["compare"]["rebuild_lacks"] == 3  # nothing would be rebuilt
    full = _cli(env, "--dry-run")
    assert full["compare"]["rebuild"] == 3
    assert full["compare"]["rebuild_lacks"] == 0
    for _ in range(2):  # run twice: still exactly N
        result = _cli(env, "--swap")
        assert result["verify"]["ok"] is True
        assert result["skipped_invalid"] == 1
        await asyncio.sleep(1.1)  # a new stamp for the next run's collection names
    assert _contents(client, names.collection) == live_contents
    names_now = {c.name for c in client.list_collections()}
    assert len([n for n in names_now if n.startswith(names.collection + "__old_")]) == 2

    # a rebuild from a topic holding less than live is never swapped in silently
    argv = [sys.executable, "-m", "tooltrail.consumers.app.cli", "replay", "memory"]
    refused = subprocess.run(
        [*argv, "--swap", "--fresh", "--since", "2999-01-01T00:00:00Z"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert refused.returncode == 2, refused.stderr.decode()[-2000:]
    why = refused.stderr.decode().strip().splitlines()[-1]
    assert "refusing to swap: the rebuild lacks 3 of 3 live memories" in why
    assert "--drop-missing" in why
    assert _contents(client, names.collection) == live_contents


async def test_replay_waits_out_an_outage_and_skips_what_the_sink_rejects(
    kafka: KafkaEndpoint,
    names: Names,
    chroma: ChromaServer,
    client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The replay writes as a group does: one outage is retried, one poison event is isolated."""
    settings = memory_settings(
        kafka,
        names,
        chroma.url,
        tmp_path,
        embedder="hashing",
        state_dir=tmp_path / "state",
        max_poll_records=10,
        retry_backoff_initial_s=0.1,
        retry_backoff_max_s=0.2,
    )
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 2)])
    events = varied_events(20)
    poison = events[7].event_id
    await _send(kafka, names.events, events)
    writes = 0

    class Flaky(MemorySink):
        async def write(self, batch: list[Any]) -> None:
            nonlocal writes
            writes += 1
            if writes == 1:
                raise RetriableSinkError("chroma unavailable (injected)")
            if any(d.event.event_id == poison for d in batch):
                raise ValueError("this event cannot be stored (injected)")
            await super().write(batch)

    monkeypatch.setattr(replay, "MemorySink", Flaky)
    state = await replay.plan(settings, None, None, fresh=True)
    with caplog.at_level("WARNING", "tooltrail.consumers.replay"):
        await replay.run(settings, state, lambda done, total: None)
    assert state.done == state.total == 20
    assert state.skipped == 1
    stored = {i for name in set(state.targets.values()) for i in _contents(client, name)}
    check = replay.verify(settings, state)
    assert check["ok"], check
    assert check["count"] == 3 == len(stored)  # 19 events of 3 situations
    metas = [m for name in set(state.targets.values()) for _, m in _contents(client, name).values()]
    assert sum(m["occurrences"] for m in metas) == 19
    rejected = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejected) == 1
    assert "cannot be stored" in rejected[0].__dict__["reason"]
    assert any("retrying" in r.getMessage() for r in caplog.records)
    replay.forget(settings)


class _WorkerRecreates:
    """A real Chroma client that, like a running memory worker, opens ``live`` again (creating
    it, with one write) right after it has been renamed away: the first ``times`` times."""

    def __init__(self, real: Any, worker: Any, live: str, times: int) -> None:
        self.real, self.worker, self.live, self.times = real, worker, live, times

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def get_collection(self, name: str) -> Any:
        collection = self.real.get_collection(name)
        if name != self.live:
            return collection
        outer = self

        class Renamed:
            def modify(self, name: str) -> None:
                collection.modify(name=name)
                if outer.times > 0:
                    outer.times -= 1
                    stray = outer.worker.get_or_create_collection(
                        outer.live, embedding_function=None
                    )
                    stray.upsert(
                        ids=["written-in-the-window"], embeddings=[[0.0, 1.0]], documents=["stray"]
                    )

        return Renamed()


@pytest.mark.parametrize("drop_old", [False, True])
def test_a_swap_moves_aside_a_live_collection_a_worker_recreated_meanwhile(
    kafka: KafkaEndpoint,
    names: Names,
    chroma: ChromaServer,
    client: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    drop_old: bool,
) -> None:
    settings = memory_settings(
        kafka, names, chroma.url, tmp_path, embedder="hashing", state_dir=tmp_path / "state"
    )
    live = names.collection
    kinds = replay.collection_names(settings)  # unified: every kind in the one collection
    assert set(kinds.values()) == {live}
    state = replay.ReplayState(
        "20261124T000000", dict.fromkeys(kinds, f"{live}__rebuild_x"), {}, {}, {}
    )
    client.create_collection(live, embedding_function=None).upsert(
        ids=["old"], embeddings=[[1.0, 0.0]], documents=["old"]
    )
    client.create_collection(f"{live}__rebuild_x", embedding_function=None).upsert(
        ids=["a", "b"], embeddings=[[1.0, 0.0], [0.0, 1.0]], documents=["a", "b"]
    )
    real = open_client(chroma.url)
    proxy = _WorkerRecreates(real, client, live, times=2)
    monkeypatch.setattr(replay, "open_chroma", lambda _settings: proxy)

    actions = replay.swap(settings, state, drop_old=drop_old)

    assert proxy.times == 0  # the worker did re-create the live name twice
    assert _documents(client, live) == {"a": "a", "b": "b"}  # the rebuild is live
    names_now = {c.name for c in client.list_collections()}
    strays = sorted(n for n in names_now if n.startswith(f"{live}__stray_"))
    moved = [a for a in actions if "re-created by a running worker" in a]
    assert len(moved) == 2
    if drop_old:
        assert strays == []
        assert f"{live}__old_{state.stamp}" not in names_now
    else:
        assert strays == [f"{live}__stray_{state.stamp}_1", f"{live}__stray_{state.stamp}_2"]
        assert all(_documents(client, n) == {"written-in-the-window": "stray"} for n in strays)
        assert _documents(client, f"{live}__old_{state.stamp}") == {"old": "old"}


def test_a_swap_still_fails_on_errors_that_are_not_a_taken_name(
    kafka: KafkaEndpoint, names: Names, chroma: ChromaServer, tmp_path: Path
) -> None:
    settings = memory_settings(
        kafka, names, chroma.url, tmp_path, embedder="hashing", state_dir=tmp_path / "state"
    )
    kinds = replay.collection_names(settings)
    state = replay.ReplayState(
        "20261124T000000", dict.fromkeys(kinds, "missing__rebuild"), {}, {}, {}
    )
    with pytest.raises(Exception, match="does not exist"):
        replay.swap(settings, state, drop_old=False)
