"""The producer with a full disk and a broker outage, in both recovery orders (in memory).

The outbox writes through a fake ``os.write`` (the ``outbox_files.raw_write`` seam) that
models a small disk: short writes at its edge, ENOSPC past it, room freed by deleted
segments. Kafka is the in-memory stand-in (``memory://``). After each recovery every call
is on the topic exactly once or counted dropped, and the accounting identity holds.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from tests.factories import make_event
from tooltrail.producer import outbox_files
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.outbox import Outbox
from tooltrail.producer.stats import ProducerStats
from tooltrail.schemas import ToolExecutionEvent, decode
from tooltrail.schemas.kafka.memory import MemoryBroker

TOPIC = "events"


class SmallDisk:
    """``capacity`` bytes for the files under ``root``; writes at its edge are short."""

    def __init__(self, root: Path, capacity: int) -> None:
        self.root, self.capacity, self.refused = root, capacity, 0

    def used(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("seg-*.log") if p.is_file())

    def __call__(self, fd: int, data: bytes | memoryview) -> int:
        room = self.capacity - self.used()
        if room <= 0:
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, bytes(data[: min(len(data), room)]))


@pytest.fixture
def broker(memory_kafka: MemoryBroker) -> MemoryBroker:
    """The test's in-memory broker with the events topic (one partition)."""
    memory_kafka.create_topic(TOPIC, 1)
    return memory_kafka


def _producer(broker: MemoryBroker, outbox: Path) -> TrailProducer:
    return TrailProducer(
        kafka_bootstrap=f"memory://{broker.name}",
        events_topic=TOPIC,
        outbox_dir=outbox,
        outbox_segment_bytes=4096,
        outbox_fsync_interval_ms=0,
        linger_ms=5,
        send_timeout_s=0.5,
        request_timeout_ms=300,
        reconnect_backoff_max_s=0.2,
        enable_presearch=False,
    ).start()


def _balanced(s: ProducerStats) -> bool:
    """The accounting identity (see ``ProducerStats``)."""
    return s.emitted + s.outbox_inherited == (
        s.sent + s.resent + s.dropped_total + s.queue_depth + s.in_flight + s.outbox_pending
    )


def _wait(producer: TrailProducer, what: str, ok: object) -> ProducerStats:
    deadline = time.monotonic() + 20
    while True:
        s = producer.stats()
        if callable(ok) and ok(s):
            return s
        assert time.monotonic() < deadline, f"{what}: {s}"
        time.sleep(0.02)


def _on_topic(broker: MemoryBroker) -> list[str]:
    return [decode(r.value, ToolExecutionEvent).event_id for _, r in broker.records(TOPIC)]


def _quiet(s: ProducerStats) -> bool:
    return s.queue_depth == 0 and s.in_flight == 0 and _balanced(s)


@pytest.mark.parametrize("order", ["space_first", "broker_first"])
def test_a_full_disk_and_a_down_broker_lose_nothing_uncounted(
    broker: MemoryBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, order: str
) -> None:
    disk = SmallDisk(tmp_path / "ob", 20_000)
    monkeypatch.setattr(outbox_files, "raw_write", disk)
    real_pwrite = os.pwrite

    def cursor_write(fd: int, data: bytes, offset: int) -> int:
        if disk.capacity < 10**6:  # the cursor cannot be saved while the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", cursor_write)
    broker.faults.go_down()
    producer = _producer(broker, tmp_path / "ob")
    events = [make_event() for _ in range(200)]
    for event in events:
        producer.emit(event)
    full = _wait(producer, "the fill to be accounted", lambda s: _quiet(s) and s.emitted == 200)
    assert full.dropped.get("disk_full", 0) > 0  # the disk did fill up
    assert full.outbox_pending > 0
    assert disk.refused > 0
    if order == "space_first":
        disk.capacity = 10**9
        broker.faults.come_back()
    else:
        broker.faults.come_back()
        _wait(producer, "the outbox to drain on a full disk", lambda s: s.outbox_pending == 0)
        disk.capacity = 10**9
    more = [make_event() for _ in range(50)]
    for event in more:
        producer.emit(event)
    done = _wait(
        producer,
        "everything sent",
        lambda s: _quiet(s) and s.outbox_pending == 0 and s.emitted == 250,
    )
    started = time.monotonic()
    producer.close(timeout=2)
    assert time.monotonic() - started < 4
    assert not producer._sender.alive
    ids = _on_topic(broker)
    assert len(ids) == len(set(ids))  # nothing twice
    emitted = [e.event_id for e in events + more]
    assert set(ids) <= set(emitted)
    assert len(ids) == done.sent + done.resent == 250 - done.dropped_total  # the rest counted
    assert set(ids) >= {e.event_id for e in more}  # after recovery nothing is lost
    assert ids.count(events[-1].event_id) == 1  # the newest of the fill was kept
    assert Outbox(tmp_path / "ob", 1 << 20, 4096).pending == 0  # the next life resends nothing


def test_close_on_a_stalled_broker_keeps_its_deadline_and_every_call(
    broker: MemoryBroker, tmp_path: Path
) -> None:
    producer = _producer(broker, tmp_path / "ob")
    _wait(producer, "the link", lambda s: s.connected)
    broker.faults.stall()  # requests are taken and never answered
    for _ in range(300):
        producer.emit(make_event())
    started = time.monotonic()
    producer.close(timeout=1)
    took = time.monotonic() - started
    s = producer.stats()
    assert took < 3  # close(timeout) returns within timeout + 2 s
    assert not producer._sender.alive  # no thread left behind
    assert _balanced(s)
    assert (s.queue_depth, s.in_flight, s.dropped) == (0, 0, {})
    assert s.outbox_pending == 300  # every call whole on disk for the next life
    broker.faults.resume()


@pytest.mark.parametrize("max_in_flight", [1, 7, 300, 499])
def test_a_burst_past_max_in_flight_waits_in_memory_and_spills_nothing(
    broker: MemoryBroker, tmp_path: Path, max_in_flight: int
) -> None:
    """A batch bigger than the room in the air is taken in part: the rest waits for
    acknowledgements (it used to go to the outbox: thousands of a 20k burst on a live link)."""
    producer = TrailProducer(
        kafka_bootstrap=f"memory://{broker.name}",
        events_topic=TOPIC,
        outbox_dir=tmp_path / "ob",
        batch_size=500,
        max_in_flight=max_in_flight,
        linger_ms=5,
        enable_presearch=False,
    ).start()
    try:
        _wait(producer, "connected", lambda s: s.connected)
        events = [make_event(session_id=f"s{i % 7}") for i in range(3_000)]
        for event in events:
            producer.emit(event)
        s = _wait(producer, "all sent", lambda s: s.sent == len(events) or s.spilled > 0)
        assert (s.sent, s.spilled, s.resent, s.dropped_total) == (len(events), 0, 0, 0), s
    finally:
        producer.close(5)
    assert sorted(_on_topic(broker)) == sorted(e.event_id for e in events)
