"""The fixture broker and chroma server are real: events cross Kafka, vectors cross Chroma."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tooltrail.consumers import TopicSpec, ensure_topics
from tooltrail.consumers.app.launcher import ChromaServer, EmbeddedBroker
from tooltrail.consumers.memory.chroma import close_client, open_client
from tooltrail.schemas import ToolExecutionEvent, decode, encode

pytestmark = pytest.mark.integration


async def test_events_round_trip_through_the_broker(kafka: KafkaEndpoint, names: Names) -> None:
    kwargs = {"bootstrap_servers": kafka.bootstrap}
    assert await ensure_topics(kwargs, [TopicSpec(names.events, 3)]) == [names.events]
    assert await ensure_topics(kwargs, [TopicSpec(names.events, 3)]) == []  # idempotent

    events = [make_event(session_id=f"sess-{i % 5}") for i in range(200)]
    producer = AIOKafkaProducer(
        acks="all", enable_idempotence=False, compression_type="lz4", linger_ms=5, **kwargs
    )
    await producer.start()
    try:
        for event in events:
            await producer.send(names.events, encode(event), key=event.session_id.encode())
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        names.events,
        group_id=names.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        fetch_max_wait_ms=50,
        **kwargs,
    )
    await consumer.start()
    got: list[ToolExecutionEvent] = []
    partitions_by_session: dict[str, set[int]] = {}
    try:
        deadline = time.monotonic() + 30
        while len(got) < len(events) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    event = decode(record.value, ToolExecutionEvent)
                    got.append(event)
                    partitions_by_session.setdefault(event.session_id, set()).add(tp.partition)
        await consumer.commit()
        assert consumer.partitions_for_topic(names.events) == {0, 1, 2}
        committed = [await consumer.committed(TopicPartition(names.events, p)) for p in range(3)]
    finally:
        await consumer.stop()

    assert Counter(e.event_id for e in got) == Counter(e.event_id for e in events)
    assert {e.event_id: e for e in got} == {e.event_id: e for e in events}
    assert all(len(parts) == 1 for parts in partitions_by_session.values())  # key → partition
    assert sum(c or 0 for c in committed) == len(events)


def test_vectors_are_written_and_queried_through_chroma(
    chroma: ChromaServer, names: Names, request: pytest.FixtureRequest
) -> None:
    client = open_client(chroma.url)
    request.addfinalizer(lambda: close_client(client))
    collection = client.create_collection(
        names.collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    ids = ["pods", "dns", "disk"]
    vectors = [[1.0, 0.0, 0.0, 0.1], [0.0, 1.0, 0.0, 0.1], [0.0, 0.0, 1.0, 0.1]]
    metadatas: list[dict[str, str | int | float | bool]] = [
        {"kind": "tool-exec", "tool": "oc_read_get_pods"},
        {"kind": "tool-exec", "tool": "oc_diagnostic_dns"},
        {"kind": "incident", "tool": "oc_read_nodes"},
    ]
    collection.upsert(ids=ids, embeddings=vectors, documents=ids, metadatas=metadatas)  # type: ignore[arg-type]
    collection.upsert(ids=ids, embeddings=vectors, documents=ids, metadatas=metadatas)  # type: ignore[arg-type]
    assert collection.count() == 3  # upsert by id is idempotent

    near_dns = collection.query(query_embeddings=[[0.05, 0.9, 0.0, 0.1]], n_results=2)
    assert near_dns["ids"][0][0] == "dns"
    filtered = collection.query(
        query_embeddings=[[0.05, 0.9, 0.0, 0.1]], n_results=3, where={"kind": "incident"}
    )
    assert filtered["ids"][0] == ["disk"]

    other = open_client(chroma.url)
    request.addfinalizer(lambda: close_client(other))
    again = other.get_collection(names.collection)
    assert again.get(ids=["pods"])["documents"] == ["pods"]


async def test_broker_restart_loses_data_and_topics_must_be_recreated(
    own_broker: EmbeddedBroker,
) -> None:
    own_broker.start()
    kwargs = {"bootstrap_servers": own_broker.bootstrap}
    assert await ensure_topics(kwargs, [TopicSpec("restart.events", 2)]) == ["restart.events"]
    port = own_broker.port
    own_broker.stop()
    assert not own_broker.running()
    await asyncio.sleep(0)  # the port is free again right away (no TIME_WAIT on the listener)
    own_broker.start()
    assert own_broker.port == port
    # memory storage: the topic is gone and is created again, as workers do at start
    assert await ensure_topics(kwargs, [TopicSpec("restart.events", 2)]) == ["restart.events"]
