"""The one runner every consumer group shares: fetch → decode → write → commit.

* Offsets are committed only after the sink has durably written the batch and every dead
  letter is acknowledged: delivery is at least once, sinks are idempotent.
* A message that does not decode goes to the dead-letter topic with the reason. A valid
  event the sink cannot take (a non-retriable error) is isolated by splitting the batch and
  dead-lettered with ``sink:<name>: <error>``; the rest is written. Nothing in a message can
  end the group.
* A retriable failure (Chroma or Kafka unavailable, a write past ``TOOLTRAIL_SINK_TIMEOUT_S``)
  pauses the partitions and retries with backoff and jitter, polling so the membership stays
  alive; nothing is committed past it. Retrying one batch for longer than
  ``TOOLTRAIL_STUCK_AFTER_S`` makes the member not ready (``/readyz``, status topic).
* Kafka unreachable at start is waited out with backoff; a topic that disappears (a broker
  restarted without storage) is created again; every Kafka call has a timeout.
* ``stop`` ends the batch in hand within ``TOOLTRAIL_SHUTDOWN_GRACE_S`` (or abandons it),
  commits what was written and leaves the group, whatever it was waiting on.
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

from tooltrail.consumers.errors import ConsumerError, DeadLetterError, RetriableSinkError
from tooltrail.consumers.kafka.dlq import send_dead_letters
from tooltrail.consumers.kafka.tansu_compat import patch_leave_group_if_tansu
from tooltrail.consumers.kafka.topics import (
    creations,
    disable_auto_creation,
    ensure_pipeline_topics,
)
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.observability.status import StatusReporter
from tooltrail.consumers.runtime.delivery import Writer, decode_records
from tooltrail.consumers.runtime.rebalance import Listener
from tooltrail.consumers.runtime.watch import Watcher
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.base import Delivered, Sink
from tooltrail.schemas.aio import cancelled_here, settle, stop_kafka
from tooltrail.schemas.backoff import Backoff
from tooltrail.schemas.kafka.clients import kafka_consumer, kafka_producer

log = logging.getLogger(__name__)
Record: TypeAlias = "ConsumerRecord[Any, Any]"
#: Failures that say nothing about the events: pause, retry, commit nothing past them.
TRANSIENT = (RetriableSinkError, DeadLetterError, KafkaError, OSError, TimeoutError)
_UNREACHABLE = (KafkaError, OSError, TimeoutError, ConsumerError)

__all__ = ["Delivered", "GroupRunner", "GroupStats", "Sink"]


class GroupRunner:
    """Runs one consumer group over the events topic into one sink."""

    def __init__(
        self, settings: WorkerSettings, group: str, sink: Sink, max_records: int | None = None
    ) -> None:
        self.settings = settings
        self.max_records = max_records or settings.max_poll_records
        self.group = group
        self.sink = sink
        self.stats = GroupStats(group, sink.name, settings.stuck_after_s)
        self.rebalances = 0
        self.assigned: set[int] = set()  # partitions this member owns now
        self.consumer: AIOKafkaConsumer | None = None
        self.writer = Writer(sink, settings.sink_timeout_s, self.stats.write_seconds.observe)
        self._pending: dict[TopicPartition, int] = {}
        self._next: dict[TopicPartition, int] = {}  # offset after the last record read
        self._creations = 0  # creations of the events topic this runner has accounted for
        self._stop_at: float | None = None  # monotonic deadline once stop was asked

    # --- lifecycle ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; then commit what was written and leave the group.

        Never raises for anything Kafka, Chroma, the disk or a message does.
        """
        disable_auto_creation()
        clients = await self._connect(stop)
        if clients is None:
            await self._bounded("sink close", self.sink.close())
            return
        consumer, dlq = clients
        reporter = StatusReporter(dlq, self.settings.status_topic, self.settings.kafka_timeout_s)
        watcher = Watcher(self, reporter)
        watch = asyncio.create_task(watcher.run(stop))
        deadline = asyncio.create_task(self._deadline_on(stop))
        try:
            await patch_leave_group_if_tansu(consumer, self.settings.kafka_timeout_s)
            while not stop.is_set():
                try:
                    await self._turn(consumer, dlq, stop)
                except (Exception, asyncio.CancelledError) as exc:  # nothing ends the group
                    if isinstance(exc, asyncio.CancelledError) and cancelled_here():
                        raise  # a stray CancelledError (aiokafka re-raising its own) is an error
                    log.exception("group loop failed; retrying", extra={"group": self.group})
                    self.stats.failed(f"{type(exc).__name__}: {exc}")
                    await self._pause(consumer, self.settings.retry_backoff_max_s, stop, -1)
        finally:
            self._stop_at = self._stop_at or time.monotonic() + self._budget()
            self.stats.connected = False
            for task in (watch, deadline):
                task.cancel()
            await asyncio.gather(watch, deadline, return_exceptions=True)
            await self._shutdown(consumer, dlq, watcher, reporter)

    async def _connect(
        self, stop: asyncio.Event
    ) -> tuple[AIOKafkaConsumer, AIOKafkaProducer] | None:
        """Topics, consumer, dead-letter producer and sink, retried until Kafka answers."""
        s, logged = self.settings, 0.0
        backoff = Backoff(
            s.retry_backoff_initial_s, max(s.connect_backoff_max_s, s.retry_backoff_initial_s)
        )
        while not stop.is_set():
            consumer, dlq = self._clients()
            try:
                await ensure_pipeline_topics(s)
                async with asyncio.timeout(s.kafka_timeout_s):
                    await consumer.start()
                    await dlq.start()
            except (asyncio.CancelledError, *_UNREACHABLE) as exc:
                await self._bounded("consumer stop", stop_kafka(consumer))
                await self._bounded("producer stop", stop_kafka(dlq))
                if isinstance(exc, asyncio.CancelledError):
                    raise  # cancelled while starting: the clients are closed, nothing is left
                self.stats.failed(f"kafka unreachable: {type(exc).__name__}: {exc}")
                if time.monotonic() - logged >= s.connect_backoff_max_s:
                    logged = time.monotonic()
                    log.warning(
                        "kafka unreachable; waiting",
                        extra={
                            "group": self.group,
                            "bootstrap": s.kafka_bootstrap,
                            "error": self.stats.last_error,
                        },
                    )
                self.stats.last_poll = time.monotonic()  # waiting is not a stall
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff.next())
                continue
            self.consumer = consumer
            self._creations = creations(s.events_topic)
            await self._start_sink()
            self.stats.recovered()
            self.stats.connected = True
            return consumer, dlq
        return None

    def _clients(self) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
        s = self.settings
        consumer = kafka_consumer(
            s.kafka_kwargs(),
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            max_partition_fetch_bytes=max(2 * s.max_message_bytes, 1_048_576),
            fetch_max_bytes=max(4 * s.max_message_bytes, 52_428_800),
            metadata_max_age_ms=5_000,  # notice a recreated topic within seconds
        )
        consumer.subscribe([s.events_topic], listener=Listener(self))
        dlq = kafka_producer(
            s.kafka_kwargs(),
            acks="all",
            enable_idempotence=False,
            request_timeout_ms=int(s.kafka_timeout_s * 1000),
            max_request_size=s.dlq_max_bytes + 65_536,
        )
        return consumer, dlq

    async def _start_sink(self) -> None:
        try:
            await asyncio.wait_for(self.sink.start(), self.settings.sink_timeout_s)
        except Exception as exc:  # noqa: BLE001 - the first write reports it and is retried
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "sink did not start; its first write will retry",
                extra={"group": self.group, "error": error},
            )

    async def _shutdown(
        self,
        consumer: AIOKafkaConsumer,
        dlq: AIOKafkaProducer,
        watcher: Watcher,
        reporter: StatusReporter,
    ) -> None:
        await self.commit_pending()
        await self._bounded("status", reporter.report(self.stats, 0, stopping=True))
        for what, closing in (
            ("consumer stop", stop_kafka(consumer)),
            ("producer stop", stop_kafka(dlq)),
            ("lag probe", watcher.close()),
            ("sink close", self.sink.close()),
        ):
            await self._bounded(what, closing)
        self.writer.close()

    async def _bounded(self, what: str, step: Awaitable[Any]) -> None:
        """Await ``step`` within the Kafka timeout and what is left of the grace period."""
        limit = self.settings.kafka_timeout_s
        if self._stop_at is not None:
            limit = max(min(limit, self._stop_at - time.monotonic()), 0.01)
        failure = await settle(step, limit)
        if failure is not None:  # shutting down: note it and go on
            log.warning("%s failed", what, extra={"group": self.group, "error": repr(failure)})

    # --- one turn ----------------------------------------------------------------------------
    async def _turn(
        self, consumer: AIOKafkaConsumer, dlq: AIOKafkaProducer, stop: asyncio.Event
    ) -> None:
        if await self.recreated(consumer):
            return
        data = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
        self.stats.last_poll = time.monotonic()
        await self._note_highwater(consumer, data)
        records = [r for batch in data.values() for r in batch]
        if not records:
            return
        self.stats.consumed += len(records)
        valid, failures = self._decode(records)
        if not await self._deliver(consumer, dlq, records, valid, failures, stop):
            return
        if await self.recreated(consumer):  # these offsets belong to the topic that is gone
            return
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self._pending[tp] = max(self._pending.get(tp, 0), record.offset + 1)
        await self.commit_pending()

    def _decode(self, records: list[Record]) -> tuple[list[Delivered], list[tuple[Record, str]]]:
        return decode_records(
            records, self.settings.max_message_bytes, self.settings.decode_limits()
        )

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
        seen, backoff = self.rebalances, self.settings.write_backoff()
        by_offset = {(r.partition, r.offset): r for r in records}
        while True:
            try:
                if failures:
                    await self._dead_letter(dlq, failures)
                    failures = []  # never dead-letter twice when the write is retried
                if valid:
                    rejected = await self.writer.write(valid, stop, self._grace_left)
                    if rejected is None:
                        return False
                    await self._dead_letter(
                        dlq, [(by_offset[d.partition, d.offset], why) for d, why in rejected]
                    )
                    self.stats.rejected += len(rejected)
                    self._note_written(valid, rejected)
                    valid = []
            except TRANSIENT as exc:
                delay = getattr(exc, "retry_after", None) or backoff.next()
                self.stats.failed(f"{type(exc).__name__}: {exc}")
                log.warning(
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
        for d in done:
            age = max(now - d.event.ended_at.timestamp(), 0.0)
            self.stats.freshness_ms.append(age * 1000)
            self.stats.freshness.observe(age)

    async def _dead_letter(self, dlq: AIOKafkaProducer, failures: list[tuple[Record, str]]) -> None:
        if not failures:
            return
        s = self.settings
        await send_dead_letters(
            dlq, s.dlq_topic, self.group, failures, s.dlq_max_bytes, s.kafka_timeout_s
        )
        self.stats.dead_lettered += len(failures)

    async def _deadline_on(self, stop: asyncio.Event) -> None:
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
        """Poll with the partitions paused for ``delay``; False on stop or a rebalance."""
        partitions = list(consumer.assignment())
        consumer.pause(*partitions)
        try:
            deadline = time.monotonic() + delay
            while (left := deadline - time.monotonic()) > 0:
                with contextlib.suppress(KafkaError):
                    await consumer.getmany(timeout_ms=int(min(left, 0.2) * 1000) + 1)
                self.stats.last_poll = time.monotonic()
                if stop.is_set() or (seen >= 0 and self.rebalances != seen):
                    return False
            return True
        finally:
            consumer.resume(*[tp for tp in partitions if tp in consumer.assignment()])

    async def commit_pending(self) -> None:
        """Commit offsets of everything durably written. Never raises.

        A failed commit is dropped, not retried: after a broker restart the topic may have
        been created again, and an old offset committed there would skip its first events.
        Its records are read again after the next rebalance or restart (writers skip what
        they already hold); the next batch's commit covers the same partitions anyway.
        """
        consumer = self.consumer
        if not self._pending or consumer is None:
            return
        owned = consumer.assignment()
        offsets = {tp: off for tp, off in self._pending.items() if tp in owned}
        if not offsets:
            self._pending.clear()  # written, but no longer ours: the new owner re-reads it
            return
        try:
            await asyncio.wait_for(consumer.commit(offsets), self.settings.kafka_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            self._pending.clear()
            log.warning(
                "commit failed; the next batch's commit covers it",
                extra={"group": self.group, "error": repr(exc)},
            )
            return
        for tp, off in offsets.items():
            self.stats.committed[tp.partition] = off
        self._pending.clear()

    def drop_pending(self) -> None:
        """Forget offsets written but not committed (their events are read again)."""
        self._pending.clear()
        self._next.clear()

    async def recreated(self, consumer: AIOKafkaConsumer) -> bool:
        """If the events topic was created again here, read it from the start; True if so.

        A broker that lost its topics (Tansu keeps them in memory) gets them back from a
        watcher, empty. The consumer would go on fetching at its old positions and skip the
        new topic's first events, and its pending offsets would skip them for good once
        committed there. The new topic holds only events nobody has read: start over.
        """
        now = creations(self.settings.events_topic)
        if now == self._creations:
            return False
        self._creations = now
        await self._restart(consumer, list(consumer.assignment()), "was created again")
        return True

    async def _restart(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition], why: str
    ) -> None:
        self.drop_pending()
        if partitions:  # the reset is requested at once; waiting for it is only a courtesy
            failure = await settle(
                consumer.seek_to_beginning(*partitions), self.settings.kafka_timeout_s
            )
            if failure is not None:
                log.warning(
                    "seek to the start failed", extra={"group": self.group, "error": repr(failure)}
                )
        owned = sorted(tp.partition for tp in partitions)
        log.warning(
            "events topic %s; reading it from the start",
            why,
            extra={"group": self.group, "partitions": owned},
        )

    async def _note_highwater(
        self, consumer: AIOKafkaConsumer, data: dict[TopicPartition, list[Record]]
    ) -> None:
        """Note each end; a partition now shorter than what was read was created again."""
        shorter = []
        for tp in consumer.assignment():
            hw = consumer.highwater(tp)
            if hw is None:
                continue
            self.stats.highwater[tp.partition] = hw
            if hw < self._next.get(tp, 0):
                shorter.append(tp)
        if shorter:  # created again elsewhere: drop what this poll read from it, start over
            for tp in shorter:
                data.pop(tp, None)
            await self._restart(consumer, shorter, "is shorter than what was read (created again)")
        for tp, batch in data.items():
            if batch:
                self._next[tp] = batch[-1].offset + 1
