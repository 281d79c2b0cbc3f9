"""The memory group against a real broker and a real ``chroma run`` server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.integration.test_metrics_worker import running, worker_settings
from tests.kafka_helpers import wait_for
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.memory.chroma import close_client, open_client
from tooltrail.consumers.memory.embedders import HashingEF, MiniLMOnnxEF
from tooltrail.consumers.memory.situations import situation_of
from tooltrail.consumers.memory.store import EmbedderMismatchError
from tooltrail.consumers.runtime.runner import Delivered, GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.memory import MemorySink
from tooltrail.consumers.sinks.metrics import MetricsSink
from tooltrail.producer.emitter import TrailProducer
from tooltrail.schemas import ToolExecutionEvent

pytestmark = pytest.mark.integration


def memory_settings(
    kafka: KafkaEndpoint, names: Names, chroma_url: str, tmp: Path, **extra: object
) -> WorkerSettings:
    base = worker_settings(kafka, names, tmp / "metrics")
    return base.model_copy(
        update={
            "chroma_url": chroma_url,
            "chroma_collection": names.collection,
            "chroma_collection_prefix": names.collection + "_",
            "memory_group": names.group + "-mem",
            **extra,
        }
    )


def varied_events(n: int) -> list[ToolExecutionEvent]:
    events = []
    for i in range(n):
        if i % 3 == 1:
            events.append(
                make_event(
                    outcome="tool_error",
                    error_summary=f"pod web-{i} not found",
                    tool_id="oc_read_describe_pod",
                )
            )
        elif i % 3 == 2:
            events.append(make_event(incident_id="INC-42", session_id=f"s{i}"))
        else:
            events.append(make_event(args={"namespace": "payments", "pod": f"web-{i}"}))
    return events


async def emit_all(
    kafka: KafkaEndpoint, names: Names, tmp: Path, events: list[ToolExecutionEvent]
) -> None:
    async with TrailProducer(
        kafka_bootstrap=kafka.bootstrap, events_topic=names.events, outbox_dir=tmp / "ob"
    ) as producer:
        for event in events:
            producer.emit(event)


@pytest.fixture
def chroma_client(chroma: ChromaServer) -> Iterator[object]:
    client = open_client(chroma.url)
    yield client
    close_client(client)


async def test_events_become_searchable_memories_and_rereads_do_not_duplicate(
    kafka: KafkaEndpoint, names: Names, chroma: ChromaServer, chroma_client: object, tmp_path: Path
) -> None:
    settings = memory_settings(kafka, names, chroma.url, tmp_path, embedder="hashing")
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
    events = varied_events(30)
    await emit_all(kafka, names, tmp_path, events)
    runner = GroupRunner(settings, settings.memory_group, MemorySink(settings, HashingEF()))
    async with running(runner):
        await wait_for(lambda: runner.stats.written == 30, 60, "30 memories")
    collection = chroma_client.get_collection(names.collection)  # type: ignore[attr-defined]
    assert collection.count() == 3  # 30 calls, 3 situations (web-<n> not found, two routine)
    stored = collection.get(include=["metadatas", "documents"])
    assert set(stored["ids"]) == {situation_of(e).id for e in events}
    by_id = {
        i: (d, m)
        for i, d, m in zip(stored["ids"], stored["documents"], stored["metadatas"], strict=True)
    }
    document, meta = by_id[situation_of(events[1]).id]
    assert document.startswith("oc_read_describe_pod tool_error: pod web-")
    assert "not found" in document.splitlines()[0]
    assert len(document.encode()) <= 1536
    assert meta["kind"] == "failure"
    assert meta["outcome"] == "tool_error"
    assert meta["occurrences"] == 10
    assert by_id[situation_of(events[2]).id][1]["kind"] == "incident"
    assert sum(m["occurrences"] for m in stored["metadatas"]) == 30
    assert collection.metadata["embedder"] == "tooltrail_hashing/hashing-384-v1"
    hits = collection.query(
        query_embeddings=HashingEF()(["describe pod web-4 not found"]),
        n_results=1,
        where={"kind": "failure"},
    )
    assert situation_of(events[4]).id in hits["ids"][0]

    again = settings.model_copy(update={"memory_group": settings.memory_group + "-again"})
    rerun = GroupRunner(again, again.memory_group, MemorySink(again, HashingEF()))
    async with running(rerun):
        await wait_for(lambda: rerun.stats.written == 30, 60, "30 re-deliveries")
    assert collection.count() == 3  # deterministic ids: upserted, not duplicated
    again_meta = collection.get(include=["metadatas"])["metadatas"]
    assert sum(m["occurrences"] for m in again_meta) == 30  # redelivered: counted once


async def test_separate_collections_and_a_foreign_embedder_is_refused(
    kafka: KafkaEndpoint, names: Names, chroma: ChromaServer, chroma_client: object, tmp_path: Path
) -> None:
    settings = memory_settings(
        kafka, names, chroma.url, tmp_path, embedder="hashing", unified_memory=False
    )
    sink = MemorySink(settings, HashingEF())
    await sink.start()
    events = varied_events(9)
    await sink.write([Delivered(e, 0, i) for i, e in enumerate(events)])
    await sink.close()
    counts = {
        kind: chroma_client.get_collection(f"{names.collection}_{kind}").count()  # type: ignore[attr-defined]
        for kind in ("tool_exec", "failure", "incident")
    }
    assert counts == {"tool_exec": 1, "failure": 1, "incident": 1}  # one situation each
    foreign = MemorySink(settings, MiniLMOnnxEF())
    with pytest.raises(EmbedderMismatchError, match="was built with embedder 'tooltrail_hashing"):
        await foreign.start()
    await foreign.close()


async def test_chroma_down_mid_stream_pauses_memory_only_then_stores_each_once(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    server = ChromaServer(tmp_path / "chroma", tmp_path / "chroma.log").start()
    try:
        settings = memory_settings(
            kafka, names, server.url, tmp_path, embedder="hashing", retry_backoff_max_s=0.5
        )
        await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
        memory = GroupRunner(settings, settings.memory_group, MemorySink(settings, HashingEF()))
        metrics = GroupRunner(
            settings, settings.metrics_group, MetricsSink(settings.metrics_dir, 10**7)
        )
        first, second = varied_events(60), varied_events(60)
        async with running(memory), running(metrics):
            await emit_all(kafka, names, tmp_path, first)
            await wait_for(lambda: memory.stats.written == 60, 60, "the first 60 memories")
            server.stop()
            await emit_all(kafka, names, tmp_path / "b", second)
            await wait_for(lambda: metrics.stats.written == 120, 60, "metrics to keep flowing")
            await wait_for(lambda: memory.stats.retries >= 2, 60, "memory to retry")
            assert memory.stats.written == 60
            server.start()  # same port, same data directory
            await wait_for(lambda: memory.stats.written == 120, 90, "the backlog of memories")
        client = open_client(server.url)
        try:
            stored = client.get_collection(names.collection).get(include=["metadatas"])
            assert len(stored["ids"]) == 3
            assert sum(m["occurrences"] for m in stored["metadatas"]) == 120
        finally:
            close_client(client)
    finally:
        server.stop()


async def test_real_model_finds_a_paraphrase_without_shared_keywords(
    names: Names, chroma: ChromaServer, chroma_client: object, tmp_path: Path
) -> None:
    settings = WorkerSettings(
        chroma_url=chroma.url, chroma_collection=names.collection, embedder="minilm"
    )
    texts = {
        "crash": "pod web-7 in payments is in CrashLoopBackOff: back-off restarting container",
        "disk": "node worker-3 has DiskPressure: evicting pods, ephemeral storage 97% used",
        "dns": "lookup api.checkout.svc.cluster.local: no such host, coredns unreachable",
        "cert": "x509: certificate has expired for router-default ingress",
        "oom": "container killed OOMKilled exit code 137, memory limit 512Mi",
        "image": "ErrImagePull: manifest unknown for registry.local/app:v9",
    }
    now = datetime.now(UTC)
    events = {
        key: make_event(
            tool_id="oc_read_describe_pod",
            outcome="tool_error",
            error_summary=text,
            ended_at=now - timedelta(seconds=i),
            args={},
        )
        for i, (key, text) in enumerate(texts.items())
    }
    sink = MemorySink(settings, MiniLMOnnxEF())
    await sink.start()
    await sink.write([Delivered(e, 0, i) for i, e in enumerate(events.values())])
    await sink.close()
    collection = chroma_client.get_collection(names.collection)  # type: ignore[attr-defined]
    queries = {
        "disk": "the machine is running out of room to store files",
        "cert": "the TLS credentials stopped being valid",
        "crash": "the app keeps starting over and over after failing",
    }
    model = MiniLMOnnxEF()
    for key, query in queries.items():
        top3 = collection.query(query_embeddings=model([query]), n_results=3)["ids"][0]
        assert situation_of(events[key]).id in top3, (key, query, top3)
    await asyncio.sleep(0)


async def test_a_plain_chroma_client_reads_and_queries_the_memories(
    names: Names, chroma: ChromaServer, tmp_path: Path
) -> None:
    settings = WorkerSettings(
        chroma_url=chroma.url, chroma_collection=names.collection, embedder="minilm"
    )
    event = make_event(
        tool_id="oc_read_logs",
        outcome="tool_error",
        error_summary="container web crashed: OOMKilled",
    )
    sink = MemorySink(settings, MiniLMOnnxEF())
    await sink.start()
    await sink.write([Delivered(event, 0, 0)])
    await sink.close()
    vector = [float(x) for x in MiniLMOnnxEF()(["the container ran out of memory"])[0]]
    script = f"""
import json, sys, chromadb
assert "tooltrail" not in sys.modules  # no tooltrail: only chromadb
c = chromadb.HttpClient(host="127.0.0.1", port={chroma.port})
col = c.get_collection({names.collection!r})
got = col.get(include=["documents", "metadatas"])
hits = col.query(query_embeddings=[{vector!r}], n_results=1)["ids"][0]
ef = col._model.configuration_json.get("embedding_function") or {{}}
print(json.dumps({{"ids": got["ids"], "kind": got["metadatas"][0]["kind"], "hits": hits,
                  "ef": ef.get("name") or ef.get("type")}}))
"""
    argv = [sys.executable, "-c", script]
    out = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = orjson.loads(out.stdout)
    assert seen["ids"] == [situation_of(event).id]
    assert seen["kind"] == "failure"
    assert seen["hits"] == [situation_of(event).id]
    # no tooltrail function is stored: a text query uses Chroma's default, all-MiniLM-L6-v2
    assert seen["ef"] in ("legacy", "default")


async def test_a_store_wiped_under_the_worker_is_noticed_counted_and_audited(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 28: a fresh Chroma on the same address; the worker says so, audit fails."""
    import shutil

    from tooltrail.consumers.app.commands.memory import audit
    from tooltrail.consumers.errors import RetriableSinkError

    server = ChromaServer(tmp_path / "chroma", tmp_path / "chroma.log").start()
    try:
        settings = memory_settings(kafka, names, server.url, tmp_path, embedder="hashing")
        sink = MemorySink(settings, HashingEF())
        await sink.start()
        await sink.write([Delivered(e, 0, i) for i, e in enumerate(varied_events(6))])
        assert sink.store_resets == 0
        assert sink.store_reset_at is None
        server.stop()
        shutil.rmtree(tmp_path / "chroma")  # the data is gone; a fresh server, same port
        server.start()
        for attempt in range(5):
            try:
                await sink.write([Delivered(e, 0, 10 + attempt) for e in varied_events(3)])
                break
            except RetriableSinkError:
                await asyncio.sleep(0.5)  # the first call finds the old connection dead
        await sink.close()
        assert sink.store_resets == 1
        assert sink.store_reset_at  # what the runner hands `tooltrail stats` (status topic)
        assert audit(settings, as_json=True) == 1
        report = orjson.loads(capsys.readouterr().out)
        assert "replay memory --swap" in report["reset"][names.collection]
    finally:
        server.stop()
