"""Flights: batches sent to Kafka and not yet settled.

A flight is what one send put in the air: record batches per partition (keyed like Kafka's
default partitioner), each with the client's future. When it ends, acknowledged records wait
for the link to confirm them, and the rest go (back) to the outbox; an answer that arrives
after the flight timed out is remembered (``late_acks``) so that the resend skips it.
``TOOLTRAIL_MAX_IN_FLIGHT`` bounds how many events fly at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, RequestTimedOutError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from tooltrail.producer.record import Record
from tooltrail.producer.sender.clock import SenderClock
from tooltrail.producer.sender.link import KafkaLink
from tooltrail.producer.sender.state import AckedBatch, Position, position_of

_PARTITIONER = DefaultPartitioner()
#: Batch and request framing around one record (its headers counted apart).
RECORD_OVERHEAD = 512


@dataclass(slots=True)
class PartitionBatch:
    """One record batch of a flight: its builder, partition, future and records."""

    batch: Any
    partition: int
    recs: list[Record]
    future: asyncio.Future[Any] | None = None
    sent: Any = None  # the client's own record of the batch (how often it was sent)


class Flights(KafkaLink):
    """Sending batches and settling them (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The flights' own fields: what is in the air, late answers, partitioning."""
        super().__init__(*args, **kwargs)
        self.in_flight = 0  # events sent and not yet acknowledged
        self.in_flight_resent = 0  # of which outbox records (still counted pending there)
        self._room = asyncio.Event()  # set whenever a flight ends (its events leave in_flight)
        self._flights: set[asyncio.Task[None]] = set()
        self._late: dict[Position, asyncio.Future[Any]] = {}
        self._delivered_late: set[Position] = set()
        self._acked_resends: set[Position] = set()  # acked in a flight that partly failed
        self._partition_of: dict[bytes | None, int] = {}
        # one batch at a time per partition into aiokafka: its add_batch subtracts the time
        # already waited again on every wait (aiokafka 0.13/0.14), so batches queued behind
        # several others time out early (KafkaTimeoutError) on a healthy broker
        self._handover: dict[int, asyncio.Lock] = {}
        self._partition_count = 0
        self._clock = SenderClock()

    def _wait_for_room(self) -> bool:
        """True while a burst should wait in memory for acknowledgements instead of spilling.

        With ``TOOLTRAIL_MAX_IN_FLIGHT`` events unacknowledged on a live link, new batches
        would go to the outbox (disk, then a resend). They wait instead while the accumulator
        is less than half full; a broker that stops answering ends the wait within
        ``TOOLTRAIL_SEND_TIMEOUT_S`` (the flights time out and the link goes down), and a
        filling accumulator spills rather than drop calls.
        """
        return self.in_flight >= self.settings.max_in_flight and self._may_wait()

    def _may_wait(self) -> bool:
        """A live link, not stopping, and the accumulator less than half full: records may
        wait in memory for room in the air rather than go to the outbox."""
        return (
            self.live
            and self._kafka is not None
            and not self._stop.is_set()
            and len(self.acc) < self.acc.capacity // 2
        )

    def _take_limit(self) -> int:
        """How many records the pump takes next: a batch, or only what fits in the air when
        the rest may wait (taking a whole batch would send the part past
        ``TOOLTRAIL_MAX_IN_FLIGHT`` to the outbox while acknowledgements are flowing)."""
        batch = self.settings.batch_size
        if self._may_wait():
            return max(min(batch, self.settings.max_in_flight - self.in_flight), 1)
        return batch

    def _route(self, recs: list[Record]) -> None:
        late = self._stopping.is_set() and self._time_left() <= 0
        room = self.settings.max_in_flight - self.in_flight
        if self.live and not late and self._kafka is not None and room > 0:
            fly, recs = recs[:room], recs[room:]
            self._launch(fly)
        if recs:
            self._spill(recs)

    def _launch(
        self, recs: list[Record], on_done: Callable[[bool], None] | None = None
    ) -> asyncio.Task[None] | None:
        if self._kafka is None:  # cannot happen while live; keep the events anyway
            self._spill([r for r in recs if not r.resent])  # resent ones are still on disk
            return None
        self.in_flight += len(recs)
        self.in_flight_resent += sum(1 for r in recs if r.resent)
        task = asyncio.create_task(self._send_flight(self._kafka, recs, on_done))
        self._flights.add(task)
        task.add_done_callback(self._flights.discard)
        return task

    async def _send_flight(
        self, kafka: AIOKafkaProducer, recs: list[Record], on_done: Callable[[bool], None] | None
    ) -> None:
        """Send ``recs``; what is not acknowledged in time goes to the outbox."""
        groups: list[PartitionBatch] = []
        limit = self.settings.send_timeout_s
        # time the loop could not run is not counted, but a stop keeps its deadline in wall time
        deadline: contextlib.AbstractAsyncContextManager[Any] = self._clock.within(limit)
        if self._stopping.is_set():
            deadline = asyncio.timeout(min(limit, max(self._time_left(), 0.05)))
        try:
            async with deadline:
                topic = self.settings.events_topic
                partitions = sorted(await kafka.partitions_for(topic))
                groups = self._batches(kafka, partitions, recs)
                for group in groups:
                    lock = self._handover.setdefault(group.partition, asyncio.Lock())
                    async with lock:
                        group.future = await kafka.send_batch(
                            group.batch, topic, partition=group.partition
                        )
                    group.sent = _client_batch(kafka, topic, group)
                await asyncio.wait([g.future for g in groups if g.future is not None])
        except (TimeoutError, KafkaError, OSError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not self._stopping.is_set():
                raise
        finally:
            self.in_flight -= len(recs)
            self.in_flight_resent -= sum(1 for r in recs if r.resent)
            self._room.set()
            if not groups:  # failed before the records were in batches
                groups.append(PartitionBatch(None, -1, recs))
            ok = self._settle_flight(groups)
            if on_done is not None:
                on_done(ok)

    def _batches(
        self, kafka: AIOKafkaProducer, partitions: list[int], recs: list[Record]
    ) -> list[PartitionBatch]:
        """Record batches per partition (keyed like Kafka's default partitioner), in order."""
        if len(partitions) != self._partition_count:
            self._partition_of.clear()
            self._partition_count = len(partitions)
        open_: dict[int, PartitionBatch] = {}
        groups: list[PartitionBatch] = []
        for rec in recs:  # finished bytes into C record builders: too short to pace (README)
            part = self._partition_of.get(rec.key)
            if part is None:
                part = _PARTITIONER(rec.key, partitions, partitions)
                if rec.key is not None and len(self._partition_of) < 10_000:
                    self._partition_of[rec.key] = part
            group = open_.get(part)
            if group is None or not _append_to(group, rec):  # none yet, or full: a new batch
                group = open_[part] = PartitionBatch(kafka.create_batch(), part, [])
                groups.append(group)
                _append_to(group, rec)  # an empty batch takes any record
            group.recs.append(rec)
        for group in groups:
            group.batch.close()
        return groups

    def _settle_flight(self, groups: list[PartitionBatch]) -> bool:
        """Acknowledged records wait for confirmation; the others go (back) to the outbox.

        A resent record that failed is still in the outbox (it is acknowledged there only
        when its whole batch was): it is appended again only if its segment was dropped
        meanwhile. Returns True when every group was acknowledged.
        """
        loop = asyncio.get_running_loop()
        acked = AckedBatch(loop.time())
        failed: list[PartitionBatch] = []
        for group in groups:
            fut = group.future
            if fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None:
                acked.recs.extend(group.recs)
                self._acked_resends.update(
                    p for r in group.recs if (p := position_of(r)) is not None
                )
                self._count_retried(group)
            else:
                failed.append(group)
        if acked.recs:
            self._unconfirmed.append(acked)
            self._wake_link()
        if not failed:
            return True
        self._down("a batch was not acknowledged in time")
        for group in failed:
            held = [
                p for r in group.recs if self.outbox.holds(p := position_of(r)) and p is not None
            ]
            spilled = self._spill([r for r in group.recs if position_of(r) not in held])
            positions = [*(spilled or []), *held]
            fut = group.future
            if fut is not None and fut.done():
                self._count_ambiguous(group, fut)
            if positions and fut is not None and not fut.done():  # may still be delivered
                for pos in positions:
                    self._late[pos] = fut
                fut.add_done_callback(functools.partial(self._late_answer, positions, group))
        return False

    def _late_answer(
        self, positions: list[Position], group: PartitionBatch, fut: asyncio.Future[Any]
    ) -> None:
        delivered = not fut.cancelled() and fut.exception() is None
        for pos in positions:
            self._late.pop(pos, None)
            if delivered:
                self._delivered_late.add(pos)
        if delivered:
            self._count_retried(group)
        else:
            self._count_ambiguous(group, fut)

    def _count_retried(self, group: PartitionBatch) -> None:
        """Count acknowledged records the client had sent more than once.

        aiokafka retries a request that timed out on its own (while the batch is younger
        than the request timeout); without idempotence (Tansu cannot do it) the broker may
        then hold the first copy too. Sinks deduplicate by event id; this makes it visible.
        """
        attempts = getattr(group.sent, "retry_count", 1)
        if isinstance(attempts, int) and attempts > 1:
            self.counters.add("maybe_duplicated", len(group.recs))

    def _count_ambiguous(self, group: PartitionBatch, fut: asyncio.Future[Any]) -> None:
        """Count records whose request failed without telling whether the broker wrote them.

        A request that timed out or lost its connection may still have been written (a
        paused broker processes it when it resumes); the outbox sends them again.
        """
        if fut.cancelled():
            return
        if isinstance(fut.exception(), RequestTimedOutError | KafkaConnectionError):
            self.counters.add("maybe_duplicated", len(group.recs))


def _client_batch(kafka: AIOKafkaProducer, topic: str, group: PartitionBatch) -> Any:
    """aiokafka's ``MessageBatch`` for ``group`` (it knows how often it was sent), or None.

    ``send_batch`` queues it last for its partition without yielding to the loop, so it is
    still there when ``send_batch`` returns. Private to aiokafka (pinned to 0.14): anything
    unexpected gives None, and retries are then not counted.
    """
    try:
        queued = kafka._message_accumulator._batches[TopicPartition(topic, group.partition)]
        last = queued[-1] if queued else None
        return last if getattr(last, "_builder", None) is group.batch else None
    except (AttributeError, KeyError, TypeError):
        return None


def _append_to(group: PartitionBatch, rec: Record) -> bool:
    """Add ``rec`` to the group's batch; False if the batch is full."""
    return (
        group.batch.append(key=rec.key, value=rec.value, timestamp=rec.ts, headers=rec.headers)
        is not None
    )
