"""``MemoryProducer``: aiokafka's producer API over an in-memory broker.

``send`` queues a record into the open batch of its partition (keyed like Kafka's default
partitioner) and returns the future of its delivery; batches close when full, after
``linger_ms``, or when the caller yields to the loop. ``create_batch``/``send_batch`` send a
caller-built batch as one. A delivery meets the broker's faults: down (kept and retried until
``request_timeout_ms``, then ``KafkaTimeoutError``), unanswered (``RequestTimedOutError``),
lost, held or late acknowledgements. Errors are aiokafka's own types.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    IllegalOperation,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    ProducerClosed,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import RecordMetadata, TopicPartition

from tooltrail.schemas.kafka.batches import CODECS
from tooltrail.schemas.kafka.memory.broker import MemoryBroker
from tooltrail.schemas.kafka.memory.client import MemoryClient, checked_options
from tooltrail.schemas.kafka.meta import auto_creation_allowed

_Pending = tuple[BatchBuilder, list[tuple[int, "asyncio.Future[RecordMetadata]"]]]


class MemoryProducer:
    """An in-memory ``AIOKafkaProducer`` (see module docstring)."""

    def __init__(self, broker: MemoryBroker, **options: Any) -> None:
        o = checked_options(AIOKafkaProducer, (), options)
        if o["compression_type"] not in (None, *CODECS):
            raise ValueError("Invalid compression type!")
        self.broker = broker
        self._timeout_s = o["request_timeout_ms"] / 1000
        self._codec = CODECS[o["compression_type"] or "none"]
        self._batch_size = o["max_batch_size"]
        self._max_request = o["max_request_size"]
        self._linger_s = o["linger_ms"] / 1000
        self._partitioner = o["partitioner"]
        self._key_serializer = o["key_serializer"]
        self._value_serializer = o["value_serializer"]
        self.client = MemoryClient(broker, self._timeout_s)
        self._open: dict[TopicPartition, _Pending] = {}
        self._known: dict[str, int] = {}  # partition counts last seen (the metadata cache)
        self._deliveries: set[asyncio.Task[None]] = set()
        self._closing: asyncio.TimerHandle | asyncio.Handle | None = None
        self._started = self._closed = False

    async def start(self) -> None:
        """Connect (fails with ``KafkaConnectionError`` while the broker is down)."""
        await self.client.bootstrap()
        self._known = self.broker.metadata(None, auto_create=False)  # as aiokafka's bootstrap
        self._started = True

    async def stop(self) -> None:
        """Deliver what is queued (each within its timeout), then close."""
        if self._closed:
            return
        self._closed = True
        self._seal_all()
        if self._deliveries:
            await asyncio.wait(set(self._deliveries))
        await self.client.close()

    async def flush(self) -> None:
        """Wait until everything queued so far is delivered or failed."""
        self._seal_all()
        if self._deliveries:
            await asyncio.wait(set(self._deliveries))

    async def partitions_for(self, topic: str) -> set[int]:
        """The partitions of ``topic``, waiting for its metadata like aiokafka.

        Raises:
            UnknownTopicOrPartitionError: it did not appear within ``request_timeout_ms``.
        """
        deadline = time.monotonic() + self._timeout_s
        while True:
            seen = self.broker.changes.version
            faults = self.broker.faults
            if faults.down or faults.stalled or "metadata" in faults.timing_out:
                if topic in self._known:  # aiokafka answers from its metadata cache
                    return set(range(self._known[topic]))
            else:
                found = self.broker.metadata([topic], auto_creation_allowed())
                if topic in found:
                    self._known[topic] = found[topic]
                    return set(range(found[topic]))
            if time.monotonic() >= deadline:
                raise UnknownTopicOrPartitionError(topic)
            await self.broker.changes.wait(seen, min(0.1, deadline - time.monotonic()))

    async def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Any = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Queue one record; the future of its ``RecordMetadata`` (see module docstring)."""
        assert not (value is None and key is None), "Need at least one: key or value"  # noqa: S101 - aiokafka's own check
        self._check_open()
        partitions = sorted(await self.partitions_for(topic))
        key_bytes = key if self._key_serializer is None else self._key_serializer(key)
        value_bytes = value if self._value_serializer is None else self._value_serializer(value)
        headers = headers or []
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key_bytes, value_bytes, headers)
        if size > self._max_request:
            raise MessageSizeTooLargeError(
                f"The message is {size} bytes when serialized which is larger than the "
                "maximum request size you have configured with the max_request_size configuration"
            )
        if partition is None:
            partition = self._partitioner(key_bytes, partitions, partitions)
        elif partition not in partitions:
            raise AssertionError("Unrecognized partition")
        tp = TopicPartition(topic, partition)
        fut: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        for _ in range(2):  # a full batch is sealed and the record goes into a new one
            builder, futures = self._open.get(tp) or self._new_batch(tp)
            meta = builder.append(
                timestamp=timestamp_ms, key=key_bytes, value=value_bytes, headers=headers
            )
            if meta is not None:
                futures.append((builder.record_count() - 1, fut))
                return fut
            self._seal(tp)
        raise AssertionError("an empty batch refused a record")  # pragma: no cover

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> RecordMetadata:
        """``send`` and wait for the record's delivery."""
        return await (await self.send(*args, **kwargs))

    def create_batch(self) -> BatchBuilder:
        """An empty batch for ``send_batch``."""
        return BatchBuilder(
            self._batch_size,
            self._codec,
            key_serializer=self._key_serializer,
            value_serializer=self._value_serializer,
        )

    async def send_batch(
        self, batch: BatchBuilder, topic: str, *, partition: int
    ) -> asyncio.Future[RecordMetadata]:
        """Send a caller-built batch as one; the future of its first record's metadata."""
        self._check_open()
        if partition not in await self.partitions_for(topic):
            raise AssertionError("Unrecognized partition")
        fut: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        self._deliver(TopicPartition(topic, partition), batch, [(0, fut)])
        return fut

    # --- batches ------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ProducerClosed()
        if not self._started:
            raise IllegalOperation("the producer is not started")

    def _new_batch(self, tp: TopicPartition) -> _Pending:
        pending: _Pending = (self.create_batch(), [])
        self._open[tp] = pending
        if self._closing is None:  # batches close after linger_ms, or when the loop turns
            loop = asyncio.get_running_loop()
            self._closing = (
                loop.call_later(self._linger_s, self._seal_all)
                if self._linger_s
                else loop.call_soon(self._seal_all)
            )
        return pending

    def _seal_all(self) -> None:
        self._closing = None
        for tp in list(self._open):
            self._seal(tp)

    def _seal(self, tp: TopicPartition) -> None:
        builder, futures = self._open.pop(tp)
        self._deliver(tp, builder, futures)

    def _deliver(
        self,
        tp: TopicPartition,
        builder: BatchBuilder,
        futures: list[tuple[int, asyncio.Future[RecordMetadata]]],
    ) -> None:
        task = asyncio.get_running_loop().create_task(self._delivery(tp, builder, futures))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _delivery(
        self,
        tp: TopicPartition,
        builder: BatchBuilder,
        futures: list[tuple[int, asyncio.Future[RecordMetadata]]],
    ) -> None:
        data = bytes(builder._build())
        try:
            base = await self._produce(tp, data)
            await self.broker.faults.answer(self._timeout_s)
        except Exception as exc:  # noqa: BLE001 - every failure goes to the futures
            for _, fut in futures:
                if not fut.done():
                    fut.set_exception(exc)
            return
        now = int(time.time() * 1000)
        for index, fut in futures:
            if not fut.done():
                offset = base + index
                fut.set_result(RecordMetadata(tp.topic, tp.partition, tp, offset, now, 0, 0))

    async def _produce(self, tp: TopicPartition, data: bytes) -> int:
        """Write the batch as the broker's faults allow (see module docstring).

        Raises:
            KafkaTimeoutError: the broker stayed down for the whole request timeout.
            RequestTimedOutError: no answer within the request timeout.
        """
        broker, faults = self.broker, self.broker.faults
        deadline = time.monotonic() + self._timeout_s
        write = None
        while True:
            seen = broker.changes.version
            if write is not None and write.done:
                if write.error is not None:
                    raise write.error
                return write.base_offset
            if write is None and not faults.down and "produce" not in faults.timing_out:
                if tp.topic in faults.refused:
                    raise faults.refused[tp.topic](f"the broker refuses records on {tp.topic}")
                if not faults.stalled:
                    return broker.produce(tp, data)
                write = broker.produce_when_resumed(tp, data)
            left = deadline - time.monotonic()
            if left <= 0:
                if write is None and faults.down:
                    raise KafkaTimeoutError("batch expired: the broker stayed unreachable")
                raise RequestTimedOutError(f"produce not answered in {self._timeout_s:.3g}s")
            await broker.changes.wait(seen, min(left, 0.5))
