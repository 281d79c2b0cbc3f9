"""The one runner every consumer group shares: fetch → decode → write → commit.

* Offsets are committed only after the sink has durably written the batch and every dead
  letter is acknowledged: delivery is at least once, sinks are idempotent.
* A message that does not decode goes to the dead-letter topic with the reason. A valid
  event the sink cannot take (a non-retriable error) is isolated by splitting the batch and
  dead-lettered with ``sink:<name>: <error>``; the rest is written. A dead letter Kafka
  refuses for good is counted and its record skipped (``runtime.dead_letters``). Nothing in a
  message can end the group or cost a valid neighbour.
* A retriable failure (Chroma or Kafka unavailable, a write past ``TOOLTRAIL_SINK_TIMEOUT_S``)
  pauses the partitions and retries with backoff and jitter, polling so the membership stays
  alive; nothing is committed past it. Retrying one batch for longer than
  ``TOOLTRAIL_STUCK_AFTER_S`` makes the member not ready (``/readyz``, status topic).
* A batch is never given up while the consumer's position moves on: a turn that fails for
  any other reason seeks its partitions back to the batch, pauses, and reads it again.
* What a batch may cost is bounded before it is spent: the fetch guard (``schemas.kafka.
  guard``) turns a record aiokafka cannot read, or a compressed batch inflating past
  ``TOOLTRAIL_MAX_BATCH_BYTES``, into a record dead-lettered with the reason; a turn decodes
  at most ``TOOLTRAIL_MAX_BATCH_BYTES`` of records (the rest is read next), in a thread.
* A batch is abandoned (not committed, read again by whoever owns it next) on a rebalance
  while it waits, or on stop.
* Kafka unreachable at start is waited out with backoff (``runtime.connect``); a topic that
  disappears (a broker restarted without storage) is created again and read from the start
  (``runtime.member``); every Kafka call has a timeout.
* ``stop`` ends the batch in hand within ``TOOLTRAIL_SHUTDOWN_GRACE_S`` (or abandons it),
  commits what was written and leaves the group, whatever it was waiting on.
* Repeated warnings are throttled to one per ``TOOLTRAIL_WARNING_INTERVAL_S``, with counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from tooltrail.consumers.errors import DeadLetterError, RetriableSinkError
from tooltrail.consumers.kafka.tansu_compat import patch_leave_group_if_tansu
from tooltrail.consumers.kafka.topics import disable_auto_creation
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.observability.status import StatusReporter
from tooltrail.consumers.runtime.connect import connect
from tooltrail.consumers.runtime.dead_letters import DeadLetters
from tooltrail.consumers.runtime.delivery import Writer, decode_records, within
from tooltrail.consumers.runtime.member import MemberState
from tooltrail.consumers.runtime.rebalance import Listener
from tooltrail.consumers.runtime.watch import Watcher
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.base import Delivered, Sink
from tooltrail.schemas.aio import cancelled_here, settle, stop_kafka
from tooltrail.schemas.throttle import Throttle

log = logging.getLogger(__name__)
Record: TypeAlias = "ConsumerRecord[Any, Any]"
Batch: TypeAlias = "dict[TopicPartition, list[ConsumerRecord[Any, Any]]]"
#: Failures that say nothing about the events: pause, retry, commit nothing past them.
TRANSIENT = (RetriableSinkError, DeadLetterError, KafkaError, OSError, TimeoutError)

__all__ = ["Delivered", "GroupRunner", "GroupStats", "Sink"]


class GroupRunner:
    """Runs one consumer group over the events topic into one sink."""

    def __init__(
        self, settings: WorkerSettings, group: str, sink: Sink, max_records: int | None = None
    ) -> None:
        s = settings
        self.settings = settings
        self.max_records = max_records or s.max_poll_records
        self.group = group
        self.sink = sink
        self.stats = GroupStats(group, sink.name, s.stuck_after_s)
        self.member = MemberState(group, s.events_topic, self.stats, s.kafka_timeout_s)
        self.writer = Writer(sink, s.sink_timeout_s, self.stats.write_seconds.observe)
        self.letters = DeadLetters(s, group, self.stats)
        self._retrying = Throttle(log, "write failed; retrying", s.warning_interval_s)
        self._looping = Throttle(log, "group loop failed; retrying", s.warning_interval_s)
        self._stop_at: float | None = None  # monotonic deadline once stop was asked

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        """The group's consumer once connected."""
        return self.member.consumer

    @property
    def assigned(self) -> frozenset[int]:
        """The partitions this member owns now."""
        return self.member.assigned

    # --- lifecycle ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; then commit what was written and leave the group.

        Never raises for anything Kafka, Chroma, the disk or a message does.
        """
        disable_auto_creation()
        s = self.settings
        listener = Listener(self.member, self.sink, s.sink_timeout_s)
        clients = await connect(s, self.group, self.stats, listener, stop)
        if clients is None:
            await self._bounded("sink close", self.sink.close())
            return
        consumer, dlq = clients
        await self._started(consumer)
        reporter = StatusReporter(dlq, s.status_topic, s.kafka_timeout_s)
        watcher = Watcher(self.member, s, reporter)
        side = [asyncio.create_task(watcher.run(stop)), asyncio.create_task(self._deadline(stop))]
        try:
            await patch_leave_group_if_tansu(consumer, s.kafka_timeout_s)
            while not stop.is_set():
                await self._guarded_turn(consumer, dlq, stop)
        finally:
            self._stop_at = self._stop_at or time.monotonic() + self._budget()
            self.stats.connected = False
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            await self._shutdown(consumer, dlq, watcher, reporter)

    async def _started(self, consumer: AIOKafkaConsumer) -> None:
        self.member.consumer = consumer
        self.member.count_creations()
        try:
            await asyncio.wait_for(self.sink.start(), self.settings.sink_timeout_s)
        except Exception as exc:  # noqa: BLE001 - the first write reports it and is retried
            log.warning(
                "sink did not start; its first write will retry",
                extra={"group": self.group, "error": f"{type(exc).__name__}: {exc}"},
            )
        self.stats.recovered()
        self.stats.connected = True

    async def _guarded_turn(
        self, consumer: AIOKafkaConsumer, dlq: AIOKafkaProducer, stop: asyncio.Event
    ) -> None:
        try:
            await self._turn(consumer, dlq, stop)
        except (Exception, asyncio.CancelledError) as exc:  # nothing ends the group
            if isinstance(exc, asyncio.CancelledError) and cancelled_here():
                raise  # a stray CancelledError (aiokafka re-raising its own) is an error
            self.stats.failed(f"{type(exc).__name__}: {exc}")
            self._looping.error(
                "group loop failed; retrying",
                extra={"group": self.group, "error": self.stats.last_error},
            )
            await self._pause(consumer, self.settings.retry_backoff_max_s, stop, -1)

    async def _shutdown(
        self,
        consumer: AIOKafkaConsumer,
        dlq: AIOKafkaProducer,
        watcher: Watcher,
        reporter: StatusReporter,
    ) -> None:
        await self.member.commit()
        await self._bounded("status", reporter.report(self.stats, 0, stopping=True))
        for what, closing in (
            ("consumer stop", stop_kafka(consumer)),
            ("producer stop", stop_kafka(dlq)),
            ("lag probe", watcher.close()),
            ("sink close", self.sink.close()),
        ):
            await self._bounded(what, closing)
        self.writer.close()
        for throttle in (self._retrying, self._looping, self.letters.lost_log):
            throttle.flush()

    async def _bounded(self, what: str, step: Awaitable[Any]) -> None:
        """Await ``step`` within the Kafka timeout and what is left of the grace period."""
        limit = self.settings.kafka_timeout_s
        if self._stop_at is not None:
            limit = max(min(limit, self._stop_at - time.monotonic()), 0.01)
        failure = await settle(step, limit)
        if failure is not None:  # shutting down: note it and go on
            log.warning("%s failed", what, extra={"group": self.group, "error": repr(failure)})

    # --- one turn -----------------------------------------------------------------------------
    async def _turn(
        self, consumer: AIOKafkaConsumer, dlq: AIOKafkaProducer, stop: asyncio.Event
    ) -> None:
        member = self.member
        if await member.recreated(consumer):
            return
        data = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
        self.stats.last_poll = time.monotonic()
        fetched = dict(data)
        try:  # whatever fails from here on, the fetch is read again after the pause
            if shorter := member.shorter(consumer):  # created again elsewhere: start over
                for tp in shorter:
                    data.pop(tp, None)
                await member.start_over(consumer, shorter, "is shorter than what was read")
            data, again = within(data, self.settings.max_batch_bytes)
            for tp, offset in again.items():  # the rest of the fetch is read in the next turn
                consumer.seek(tp, offset)
            records = [r for batch in data.values() for r in batch]
            member.read(records)
            if not records:
                return
            self.stats.consumed += len(records)
            # decoding runs beside the loop: heartbeats and probes go on meanwhile
            limit = self.settings.max_message_bytes
            limits = self.settings.decode_limits()
            valid, failures = await asyncio.to_thread(decode_records, records, limit, limits)
            done = await self._deliver(consumer, dlq, records, valid, failures, stop)
        except BaseException:
            _rewind(consumer, fetched)  # never skipped
            raise
        if not done:
            _rewind(consumer, data)
            return
        if await member.recreated(consumer):  # these offsets belong to the topic that is gone
            return
        member.written(records)
        await member.commit()

    async def _deliver(
        self,
        consumer: AIOKafkaConsumer,
        dlq: AIOKafkaProducer,
        records: list[Record],
        valid: list[Delivered],
        failures: list[tuple[Record, str]],
        stop: asyncio.Event,
    ) -> bool:
        """Dead-letter and write the batch, retrying; False if abandoned (stop/rebalance)."""
        seen, backoff = self.member.rebalances, self.settings.write_backoff()
        by_offset = {(r.partition, r.offset): r for r in records}
        while True:
            try:
                await self.letters.send(dlq, failures)
                failures = []  # never dead-letter twice when the write is retried
                if valid:
                    rejected = await self.writer.write(valid, stop, self._grace_left)
                    if rejected is None:
                        return False
                    culprits = [(by_offset[d.partition, d.offset], why) for d, why in rejected]
                    await self.letters.send(dlq, culprits)
                    self.stats.rejected += len(rejected)
                    self._note_written(valid, rejected)
                    valid = []
            except TRANSIENT as exc:
                delay = getattr(exc, "retry_after", None) or backoff.next()
                self.stats.failed(f"{type(exc).__name__}: {exc}")
                self._retrying.warning(
                    "write failed; pausing and retrying",
                    extra={
                        "group": self.group,
                        "error": self.stats.last_error,
                        "retry_in_s": round(delay, 2),
                    },
                )
            else:
                self.stats.recovered()
                return True
            if not await self._pause(consumer, delay, stop, seen):
                return False

    def _note_written(self, items: list[Delivered], rejected: list[tuple[Delivered, str]]) -> None:
        skip = {(d.partition, d.offset) for d, _ in rejected}
        done = [d for d in items if (d.partition, d.offset) not in skip]
        now = time.time()  # durable now: freshness = event end -> here
        self.stats.written += len(done)
        self.stats.store_resets = int(getattr(self.sink, "store_resets", 0))
        self.stats.store_reset_at = getattr(self.sink, "store_reset_at", None)
        for d in done:
            age = max(now - d.event.ended_at.timestamp(), 0.0)
            self.stats.freshness_ms.append(age * 1000)
            self.stats.freshness.observe(age)

    async def _deadline(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop_at = time.monotonic() + self._budget()

    def _budget(self) -> float:
        """Of the grace period, what the group may spend (the rest is the process's exit)."""
        grace = self.settings.shutdown_grace_s
        return max(grace - 1.0, grace / 2)

    def _grace_left(self) -> float:
        """Seconds a stopping group may still wait for a write in hand (half of what is left:
        the other half is for committing and leaving the group)."""
        if self._stop_at is None:
            self._stop_at = time.monotonic() + self._budget()
        return max((self._stop_at - time.monotonic()) / 2, 0.0)

    async def _pause(
        self, consumer: AIOKafkaConsumer, delay: float, stop: asyncio.Event, seen: int
    ) -> bool:
        """Poll with the partitions paused for ``delay``; False on stop or a rebalance.

        A rebalance while waiting gives partitions back unpaused, and the poll may then be
        handed their records: those are sought back to and read by the next turn, never
        dropped (the position would be past them, and the next commit past records nobody
        wrote or dead-lettered). Partitions assigned while waiting are paused too.
        """
        paused: set[TopicPartition] = set()
        try:
            deadline = time.monotonic() + delay
            while (left := deadline - time.monotonic()) > 0:
                owned = set(consumer.assignment())
                consumer.pause(*owned)
                paused |= owned
                with contextlib.suppress(KafkaError):
                    handed = await consumer.getmany(timeout_ms=int(min(left, 0.2) * 1000) + 1)
                    _rewind(consumer, handed)
                self.stats.last_poll = time.monotonic()
                if stop.is_set() or (seen >= 0 and self.member.rebalances != seen):
                    return False
            return True
        finally:
            consumer.resume(*[tp for tp in paused if tp in consumer.assignment()])


def _rewind(consumer: AIOKafkaConsumer, data: Batch) -> None:
    """Seek each owned partition of ``data`` back to its first record."""
    owned = consumer.assignment()
    for tp, batch in data.items():
        if batch and tp in owned:
            consumer.seek(tp, batch[0].offset)
