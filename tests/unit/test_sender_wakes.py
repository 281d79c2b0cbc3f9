"""How rarely the sender wakes, and how few requests a take becomes (issue #29).

Each wake-up of the sender and each produce request costs a busy tool server CPU and
latency (the sender's loop takes the GIL back once per turn), so: a full batch wakes the
sender at once whatever the linger, the wake-up is given once per drain (not once per
call), and a whole take of typical events goes to Kafka as one record batch, one request.
Kafka here is the in-memory stand-in (``memory://``).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiokafka.structs import TopicPartition

from tooltrail.producer.accumulator import Accumulator
from tooltrail.producer.calls import ToolCall
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.sender.link import batch_bytes
from tooltrail.schemas.events import Outcome
from tooltrail.schemas.kafka.memory import MemoryBroker

TOPIC = "events"


@pytest.fixture
def broker(memory_kafka: MemoryBroker) -> MemoryBroker:
    """The test's in-memory broker with the events topic (one partition)."""
    memory_kafka.create_topic(TOPIC, 1)
    return memory_kafka


def _call(i: int) -> ToolCall:
    """A call whose event is about 1 KB, like a pod listing's."""
    rows = "\n".join(f"web-{i}-{n:03d}   Running   restarts={n}" for n in range(24))
    return ToolCall("oc_read_get_pods", {"namespace": "payments"}, "sess-1").finish(
        Outcome.OK, result=rows
    )


def _wait(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_the_accumulator_wakes_the_sender_once_when_a_batch_is_waiting() -> None:
    acc: Accumulator[int] = Accumulator(100)
    wakes: list[int] = []
    acc.waker = lambda: wakes.append(len(acc))
    acc.wake_at = 5
    for i in range(12):
        assert acc.put(i)
    assert wakes == [5]  # once, at the fifth record: not on every put after it
    acc.drain(100)
    acc.nudged = False  # what the sender does when it drains
    for i in range(5):
        acc.put(i)
    assert wakes == [5, 5]
    acc.drain(100)
    acc.asleep, acc.nudged = True, False  # a sleeping sender is woken by the first put
    acc.put(1)
    assert wakes == [5, 5, 1]
    assert not acc.asleep


def test_a_full_batch_is_sent_at_once_whatever_the_linger(
    broker: MemoryBroker, tmp_path: Path
) -> None:
    producer = TrailProducer(
        kafka_bootstrap=f"memory://{broker.name}",
        events_topic=TOPIC,
        outbox_dir=tmp_path / "outbox",
        linger_ms=60_000,
        batch_size=300,
        enable_presearch=False,
    ).start()
    try:
        assert _wait(lambda: producer.stats().connected, 10)
        for i in range(299):
            producer.emit(_call(i))
        time.sleep(0.5)
        assert producer.stats().sent + producer.stats().in_flight == 0  # lingering
        producer.emit(_call(299))  # the batch is full: no 60 s wait
        assert _wait(lambda: producer.stats().sent == 300, 10), producer.stats()
        log = broker._log(TopicPartition(TOPIC, 0))
        sizes = [b.next_offset - b.base_offset for b in log.batches]
        assert sizes == [300]  # ~300 KB of events: one record batch, one request
    finally:
        producer.close(5)
    assert producer.stats().spilled == 0


@pytest.mark.parametrize(
    ("limit", "expected"),
    [(1_048_576, 1_000_000), (2_000_000, 1_000_000), (300_000, 295_904), (1024, 1024)],
)
def test_a_batch_holds_a_whole_take_within_the_request_and_broker_limits(
    limit: int, expected: int
) -> None:
    assert batch_bytes(limit) == expected
