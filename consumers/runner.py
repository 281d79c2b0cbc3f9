"""The one runner every consumer group shares: fetch → decode → write → commit.

* Offsets are committed only after the sink has durably written the batch (and any dead
  letters are acknowledged by Kafka): delivery is at least once, sinks are idempotent.
* A message that does not decode goes to the dead-letter topic with the reason and is
  committed past; the group never stops on bad input.
* A sink raising ``RetriableSinkError`` pauses the group's partitions and retries with
  exponential backoff and jitter, polling meanwhile so the group membership stays alive;
  nothing is committed past the unwritten batch. A rebalance abandons the batch (the new
  owner re-reads it from the committed offset).
* ``stop`` finishes the batch in hand (or abandons it while waiting to retry), commits what
  was written, and leaves the group.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from consumers.dlq import send_dead_letters
from consumers.errors import RetriableSinkError
from consumers.settings import WorkerSettings
from consumers.tansu_compat import patch_leave_group_generation_zero
from consumers.topics import ensure_topics, pipeline_topics
from schemas.codec import decode_batch
from schemas.errors import SchemaDecodeError
from schemas.events import ToolExecutionEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivered:
    """One decoded event and where it came from."""

    event: ToolExecutionEvent
    partition: int
    offset: int


class Sink(Protocol):
    """What a consumer group writes to. ``write`` must be idempotent per event id."""

    name: str

    async def start(self) -> None:
        """Open files or clients; called once before the first batch."""

    async def write(self, batch: list[Delivered]) -> None:
        """Durably write the batch or raise (``RetriableSinkError`` to pause and retry)."""

    async def close(self) -> None:
        """Release resources; called once at stop."""


@dataclass
class GroupStats:
    """Live figures of one group (served on the worker's HTTP endpoint)."""

    group: str
    consumed: int = 0
    written: int = 0
    dead_lettered: int = 0
    retries: int = 0
    last_error: str | None = None
    committed: dict[int, int] = field(default_factory=dict)
    highwater: dict[int, int] = field(default_factory=dict)
    freshness_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    started: float = field(default_factory=time.monotonic)
    ready: bool = False  # consumer connected and sink started
    last_poll: float = field(default_factory=time.monotonic)  # the loop's last turn

    def lag(self) -> dict[int, int]:
        """Per partition: highwater (from fetches; correct on Tansu) minus committed offset."""
        return {p: max(hw - self.committed.get(p, 0), 0) for p, hw in self.highwater.items()}


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: GroupRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.runner.rebalances += 1
        self.runner.assigned = set()
        await self.runner.commit_pending()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.runner.rebalances += 1
        self.runner.assigned = {tp.partition for tp in assigned}
        reload = getattr(self.runner.sink, "reload", None)
        if reload is not None:  # another member may have written what we now own
            await reload()
        log.info("partitions assigned", extra={"group": self.runner.group,
                 "partitions": sorted(tp.partition for tp in assigned)})  # fmt: skip


class GroupRunner:
    """Runs one consumer group over the events topic into one sink."""

    def __init__(self, settings: WorkerSettings, group: str, sink: Sink) -> None:
        self.settings = settings
        self.group = group
        self.sink = sink
        self.stats = GroupStats(group)
        self.rebalances = 0
        self.assigned: set[int] = set()  # partitions this member owns now
        self._consumer: AIOKafkaConsumer | None = None
        self._pending: dict[TopicPartition, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; then commit what was written and leave the group."""
        s = self.settings
        patch_leave_group_generation_zero()
        topics = pipeline_topics(s.events_topic, s.dlq_topic, s.enrichment_topic,
                                 s.topic_partitions, s.topic_replication)  # fmt: skip
        await ensure_topics(s.kafka_kwargs(), topics)
        await self.sink.start()
        consumer = AIOKafkaConsumer(
            **s.kafka_kwargs(), group_id=self.group, enable_auto_commit=False,
            auto_offset_reset="earliest", session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms, fetch_max_wait_ms=s.fetch_max_wait_ms,
            max_partition_fetch_bytes=max(2 * s.max_message_bytes, 1_048_576),
            fetch_max_bytes=max(4 * s.max_message_bytes, 52_428_800),
        )  # fmt: skip
        consumer.subscribe([s.events_topic], listener=_Listener(self))
        dlq = AIOKafkaProducer(**s.kafka_kwargs(), acks="all", enable_idempotence=False,
                               max_request_size=s.max_message_bytes + 65_536)  # fmt: skip
        self._consumer = consumer
        await consumer.start()
        await dlq.start()
        self.stats.ready = True
        try:
            while not stop.is_set():
                await self._turn(consumer, dlq, stop)
        finally:
            self.stats.ready = False
            await self.commit_pending()
            for close in (consumer.stop, dlq.stop, self.sink.close):  # each, whatever fails
                try:
                    await asyncio.wait_for(close(), 15)
                except Exception:
                    log.exception("closing %s failed", self.group)

    async def _turn(
        self, consumer: AIOKafkaConsumer, dlq: AIOKafkaProducer, stop: asyncio.Event
    ) -> None:
        data = await consumer.getmany(timeout_ms=200, max_records=self.settings.max_poll_records)
        self.stats.last_poll = time.monotonic()
        self._note_highwater(consumer)
        records = [r for batch in data.values() for r in batch]
        if not records:
            return
        self.stats.consumed += len(records)
        valid, failures = self._decode(records)
        if not await self._deliver(consumer, dlq, valid, failures, stop):
            return
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self._pending[tp] = max(self._pending.get(tp, 0), record.offset + 1)
        await self.commit_pending()

    def _decode(
        self, records: list[ConsumerRecord[Any, Any]]
    ) -> tuple[list[Delivered], list[tuple[ConsumerRecord[Any, Any], str]]]:
        valid, failures = [], []
        decoded = decode_batch([r.value for r in records], ToolExecutionEvent,
                               max_bytes=self.settings.max_message_bytes)  # fmt: skip
        for record, result in zip(records, decoded, strict=True):
            if isinstance(result, SchemaDecodeError):
                failures.append((record, result.reason))
            else:
                valid.append(Delivered(result, record.partition, record.offset))
        return valid, failures

    async def _deliver(
        self,
        consumer: AIOKafkaConsumer,
        dlq: AIOKafkaProducer,
        valid: list[Delivered],
        failures: list[tuple[ConsumerRecord[Any, Any], str]],
        stop: asyncio.Event,
    ) -> bool:
        """Write the batch, retrying with backoff; False if it was abandoned (stop/rebalance)."""
        backoff = self.settings.retry_backoff_initial_s
        seen = self.rebalances
        while True:
            try:
                if failures:
                    await send_dead_letters(dlq, self.settings.dlq_topic, self.group, failures,
                                            self.settings.max_message_bytes)  # fmt: skip
                    self.stats.dead_lettered += len(failures)
                    failures = []  # never dead-letter twice when the sink write is retried
                if valid:
                    await self.sink.write(valid)
                    now = time.time() * 1000  # durable now: freshness = event end -> here
                    self.stats.written += len(valid)
                    self.stats.freshness_ms.extend(
                        now - d.event.ended_at.timestamp() * 1000 for d in valid
                    )
            except (RetriableSinkError, KafkaError) as exc:
                delay = getattr(exc, "retry_after", None) or backoff
                self.stats.retries += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("sink write failed; pausing and retrying",
                            extra={"group": self.group, "error": self.stats.last_error,
                                   "retry_in_s": round(delay, 2)})  # fmt: skip
            else:
                self.stats.last_error = None
                return True
            if not await self._pause(consumer, delay * random.uniform(0.8, 1.2), stop, seen):  # noqa: S311 - jitter
                return False
            backoff = min(backoff * 2, self.settings.retry_backoff_max_s)

    async def _pause(
        self, consumer: AIOKafkaConsumer, delay: float, stop: asyncio.Event, seen: int
    ) -> bool:
        partitions = list(consumer.assignment())
        consumer.pause(*partitions)
        try:
            deadline = time.monotonic() + delay
            while (left := deadline - time.monotonic()) > 0:
                await consumer.getmany(timeout_ms=int(min(left, 0.2) * 1000) + 1)  # keep polling
                self.stats.last_poll = time.monotonic()
                if stop.is_set() or self.rebalances != seen:
                    return False
            return True
        finally:
            consumer.resume(*[tp for tp in partitions if tp in consumer.assignment()])

    async def commit_pending(self) -> None:
        """Commit offsets of everything durably written. Never raises (it is retried later)."""
        if not self._pending or self._consumer is None:
            return
        owned = self._consumer.assignment()
        offsets = {tp: off for tp, off in self._pending.items() if tp in owned}
        try:
            if offsets:
                await self._consumer.commit(offsets)
        except KafkaError as exc:
            log.warning("commit failed; will retry", extra={"group": self.group, "error": str(exc)})
            return
        for tp, off in offsets.items():
            self.stats.committed[tp.partition] = off
        self._pending.clear()

    def _note_highwater(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            hw = consumer.highwater(tp)
            if hw is not None:
                self.stats.highwater[tp.partition] = hw
