"""``Writer``: hands batches to a sink, bounded in time, and isolates the events it rejects.

A non-retriable failure of a batch splits it in halves until the failing events stand alone
(``k`` bad events among ``n`` cost about ``2k·log2(n)`` extra writes; sinks are idempotent, so
rewriting the good halves is harmless). A single failing event is returned with the reason
``sink:<name>: <error>`` for the dead-letter topic. A retriable failure, or a write that
outlasts the sink timeout, is raised as ``RetriableSinkError`` for the runner to retry.

``decode_records`` is the group loop's decoding step; replay shares it and the ``Writer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from aiokafka import TopicPartition

from tooltrail.consumers.errors import RetriableSinkError
from tooltrail.consumers.sinks.base import Delivered, Sink
from tooltrail.schemas.base import first_line
from tooltrail.schemas.bounds import DEFAULT_LIMITS, DecodeLimits
from tooltrail.schemas.codec import decode_batch
from tooltrail.schemas.errors import SchemaDecodeError
from tooltrail.schemas.events import ToolExecutionEvent
from tooltrail.schemas.kafka.guard import unreadable_reason

Rejected = list[tuple[Delivered, str]]


class _Record(Protocol):
    """What ``decode_records`` reads of a record (aiokafka's ``ConsumerRecord`` has it)."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> Any: ...
    @property
    def key(self) -> Any: ...
    @property
    def headers(self) -> Any: ...


R = TypeVar("R", bound=_Record)


def decode_records(
    records: list[R], max_bytes: int, limits: DecodeLimits = DEFAULT_LIMITS
) -> tuple[list[Delivered], list[tuple[R, str]]]:
    """The events among ``records`` (one batched decode), and each other record with its reason
    (one the fetch guard could not read keeps the guard's reason).

    The group loop dead-letters the failures; a replay counts them.
    """
    valid: list[Delivered] = []
    failures: list[tuple[R, str]] = []
    readable = []
    for record in records:  # what the fetch guard could not read is a failure as it is
        if (why := unreadable_reason(record)) is not None:
            failures.append((record, why))
        else:
            readable.append(record)
    values = [r.value for r in readable]
    decoded = decode_batch(values, ToolExecutionEvent, max_bytes=max_bytes, limits=limits)
    for record, result in zip(readable, decoded, strict=True):
        if isinstance(result, SchemaDecodeError):
            failures.append((record, result.reason))
        else:
            valid.append(Delivered(result, record.partition, record.offset))
    return valid, failures


def record_bytes(record: Any) -> int:
    """What a record holds: key, value and headers."""
    headers = sum(len(k) + len(v or b"") for k, v in record.headers or ())
    return len(record.key or b"") + len(record.value or b"") + headers


def within(
    data: dict[TopicPartition, list[R]], max_bytes: int
) -> tuple[dict[TopicPartition, list[R]], dict[TopicPartition, int]]:
    """The records of ``data`` up to ``max_bytes`` in all (at least one), and for each
    partition cut short the offset to read it from again."""
    kept: dict[TopicPartition, list[R]] = {}
    again: dict[TopicPartition, int] = {}
    total = 0
    for tp, batch in data.items():
        for i, record in enumerate(batch):
            size = record_bytes(record)
            if total and total + size > max_bytes:
                again[tp] = record.offset
                batch = batch[:i]
                break
            total += size
        if batch:
            kept[tp] = batch
    return kept, again


class Writer:
    """Writes batches into one sink (see module docstring)."""

    def __init__(
        self, sink: Sink, timeout: float, timed: Callable[[float], None] | None = None
    ) -> None:
        self.sink = sink
        self.timeout = timeout
        self.timed = timed  # told the seconds of each write that went through
        self._inflight: asyncio.Future[None] | None = None

    async def write(
        self, items: list[Delivered], stop: asyncio.Event, grace_left: Callable[[], float]
    ) -> Rejected | None:
        """Write ``items``; return the events the sink rejected, or None if stopped first.

        Raises:
            RetriableSinkError: the sink is unavailable (or too slow); nothing was rejected.
        """
        try:
            done = await self._once(items, stop, grace_left)
        except RetriableSinkError:
            raise
        except Exception as exc:  # noqa: BLE001 - event-specific: isolate the culprit(s)
            if len(items) == 1:
                return [(items[0], self.reason(exc))]
            mid = len(items) // 2
            rejected: Rejected = []
            for half in (items[:mid], items[mid:]):
                found = await self.write(half, stop, grace_left)
                if found is None:
                    return None
                rejected += found
            return rejected
        return [] if done else None

    def reason(self, exc: BaseException) -> str:
        """The dead-letter reason of an event the sink rejected (one line)."""
        return f"sink:{self.sink.name}: {type(exc).__name__}: {first_line(str(exc), 300)}"

    async def _once(
        self, items: list[Delivered], stop: asyncio.Event, grace_left: Callable[[], float]
    ) -> bool:
        """One sink write; False if the group stopped and the grace ran out first."""
        started = time.monotonic()
        task = asyncio.ensure_future(self.sink.write(items))
        self._inflight = task
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait(
                {task, stopping}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not task.done() and stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), grace_left())
                if not task.done():
                    return False
            if not task.done():
                raise RetriableSinkError(
                    f"sink {self.sink.name} did not finish a write within {self.timeout:.0f}s"
                )
            task.result()
            if self.timed is not None:
                self.timed(time.monotonic() - started)
            return True
        finally:
            stopping.cancel()
            if not task.done():
                task.cancel()  # stops the waiting; a blocking call finishes in its lane

    def close(self) -> None:
        """Stop waiting for a write still in flight."""
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
