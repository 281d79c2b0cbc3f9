"""The producer against a real broker: down at start, paused mid-load, never losing events."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.factories import make_event
from tests.kafka_helpers import read_all, read_topic, wait_for
from tooltrail.consumers import TopicSpec, ensure_topics
from tooltrail.consumers.app.launcher import EmbeddedBroker, free_port
from tooltrail.producer.emitter import TrailProducer
from tooltrail.schemas import ToolExecutionEvent, decode
from tooltrail.schemas.headers import event_headers

pytestmark = pytest.mark.integration


def _ids(records: list) -> Counter[str]:  # type: ignore[type-arg]
    return Counter(decode(r.value, ToolExecutionEvent).event_id for r in records)


async def test_broker_down_at_start_then_up_delivers_each_event_exactly_once(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    producer = TrailProducer(
        kafka_bootstrap=own_broker.bootstrap,
        events_topic="events",
        outbox_dir=tmp_path / "ob",
        request_timeout_ms=1000,
        reconnect_backoff_max_s=0.5,
    ).start()
    events = [make_event(session_id=f"s{i % 7}") for i in range(500)]
    for event in events[:300]:
        producer.emit(event)  # tool calls go on while Kafka is down
    await wait_for(lambda: producer.stats().spilled == 300, 10, "300 events spilled")
    assert producer.stats().sent == 0

    own_broker.start()
    await ensure_topics({"bootstrap_servers": own_broker.bootstrap}, [TopicSpec("events", 3)])
    await wait_for(lambda: producer.stats().resent == 300, 30, "the outbox to be resent")
    for event in events[300:]:
        producer.emit(event)
    await producer.aclose(10)

    stats = producer.stats()
    assert (stats.sent + stats.resent, stats.dropped_total, stats.outbox_pending) == (500, 0, 0)
    records = await read_all(own_broker.bootstrap, "events")
    assert _ids(records) == Counter(e.event_id for e in events)  # each exactly once
    assert {r.key for r in records} == {f"s{i}".encode() for i in range(7)}
    # live and resent records alike describe themselves and are stamped with the call's end
    by_id = {e.event_id: e for e in events}
    for record in records:
        event = by_id[decode(record.value, ToolExecutionEvent).event_id]
        assert list(record.headers) == event_headers(event)
        assert record.timestamp == int(event.ended_at.timestamp() * 1000)


async def test_closed_right_after_start_it_still_delivers_within_the_deadline(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # a short-lived process (a CLI run, a test) emits and closes before Kafka ever answered:
    # close must connect and send within its deadline, not leave everything in the outbox
    own_broker.start()
    await ensure_topics({"bootstrap_servers": own_broker.bootstrap}, [TopicSpec("events", 3)])
    expected = []
    for round_ in range(5):
        producer = TrailProducer(
            kafka_bootstrap=own_broker.bootstrap,
            events_topic="events",
            outbox_dir=tmp_path / f"ob{round_}",
        ).start()
        events = [make_event() for _ in range(20)]
        for event in events:
            producer.emit(event)
        producer.close(10)
        stats = producer.stats()
        assert (stats.sent + stats.resent, stats.outbox_pending) == (20, 0), stats
        expected += [e.event_id for e in events]
    records = await read_all(own_broker.bootstrap, "events")
    assert _ids(records) == Counter(expected)


async def test_broker_paused_mid_load_loses_nothing(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    own_broker.start()
    await ensure_topics({"bootstrap_servers": own_broker.bootstrap}, [TopicSpec("events", 3)])
    producer = TrailProducer(
        kafka_bootstrap=own_broker.bootstrap,
        events_topic="events",
        outbox_dir=tmp_path / "ob",
        request_timeout_ms=1000,
        send_timeout_s=1.0,
        reconnect_backoff_max_s=0.5,
    ).start()
    events = [make_event() for _ in range(3000)]
    try:
        for i, event in enumerate(events):
            producer.emit(event)
            if i == 1000:
                own_broker.signal(signal.SIGSTOP)
            if i == 2000:
                await asyncio.sleep(2.5)  # long enough for sends to time out and spill
                assert producer.stats().spilled > 0
                own_broker.signal(signal.SIGCONT)
            if i % 100 == 0:
                await asyncio.sleep(0.02)
    finally:
        own_broker.signal(signal.SIGCONT)
    drained = lambda: producer.stats().outbox_pending == 0 and producer.stats().queue_depth == 0  # noqa: E731
    await wait_for(drained, 30, "queue and outbox to drain")
    await producer.aclose(10)
    wanted = {e.event_id for e in events}
    records = await read_topic(
        own_broker.bootstrap, "events", until=lambda r: wanted <= set(_ids(r)), timeout=30
    )
    assert wanted <= set(_ids(records))  # at least once; duplicates are deduplicated downstream
    assert producer.stats().dropped_total == 0


async def test_tool_server_starts_when_kafka_is_absent(tmp_path: Path) -> None:
    producer = TrailProducer(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        outbox_dir=tmp_path / "ob",
        request_timeout_ms=500,
    )
    producer.start()  # returns at once
    producer.emit(make_event())
    await wait_for(lambda: producer.stats().spilled == 1, 5, "the event to spill")
    await producer.aclose(1)
    assert producer.stats().outbox_pending == 1
    assert not producer.stats().connected


async def test_a_burst_on_a_healthy_broker_waits_for_room_instead_of_spilling(
    own_broker: EmbeddedBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """20k events at once (a tenth of the queue): all sent live, none to disk, no alarm.

    Before: flights queued behind each other inside aiokafka timed out early
    (KafkaTimeoutError), the sender declared Kafka down and spilled ~88 % of a burst; and past
    ``max_in_flight`` every new batch went to the outbox although acks were flowing.
    """
    own_broker.start()
    await ensure_topics({"bootstrap_servers": own_broker.bootstrap}, [TopicSpec("burst", 6)])
    producer = TrailProducer(
        kafka_bootstrap=own_broker.bootstrap,
        events_topic="burst",
        outbox_dir=tmp_path / "ob",
        queue_size=200_000,
        max_in_flight=2_000,
    ).start()
    await wait_for(lambda: producer.stats().connected, 15, "the producer to connect")
    events = [make_event(session_id=f"s{i % 50}") for i in range(20_000)]
    with caplog.at_level("WARNING", "tooltrail.producer.sender"):
        for event in events:
            producer.emit(event)
        try:
            await wait_for(lambda: producer.stats().sent == 20_000, 120, "every event sent live")
        except AssertionError as exc:  # say where the rest went (spilled, resent, in flight)
            said = [r.getMessage() for r in caplog.records]
            raise AssertionError(f"{exc}: {producer.stats()}; logged {said}") from None
    stats = producer.stats()
    await producer.aclose(10)
    assert (stats.spilled, stats.resent, stats.dropped_total) == (0, 0, 0)
    assert not [r for r in caplog.records if "not answering" in r.getMessage()]
    records = await read_topic(own_broker.bootstrap, "burst", until=lambda r: len(r) >= 20_000)
    assert _ids(records) == Counter(e.event_id for e in events)
