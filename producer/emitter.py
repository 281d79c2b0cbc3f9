"""``TrailProducer``: the never-blocking event emitter embedded in tool servers.

``emit`` appends to a bounded in-memory queue under a short lock and returns. One daemon
thread runs its own asyncio loop that owns the ``AIOKafkaProducer``: it takes batches from
the queue, encodes them, sends them keyed by session id, and spills them to the on-disk
outbox when Kafka is unreachable or slow; when Kafka answers again it resends the outbox in
order. The tool server's own event loop never awaits Kafka. A crashed sender is restarted.
"""

from __future__ import annotations

import atexit
import collections
import logging
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from producer.calls import ToolCall, build_event
from producer.enrichment import EnrichmentCache
from producer.outbox import Outbox
from producer.sender import Sender
from producer.settings import ProducerSettings
from producer.stats import Counters, ProducerStats
from producer.stdio import keep_logs_off_stdout
from schemas.codec import encode
from schemas.errors import SettingsError
from schemas.events import ToolExecutionEvent
from schemas.settings import load_settings

log = logging.getLogger(__name__)
#: What the queue holds: a finished event, or a raw call the sender turns into one.
Item = ToolExecutionEvent | ToolCall


class TrailProducer:
    """Facade over the queue, the outbox and the sender thread (see module docstring).

    Usable from async code (``async with TrailProducer() as p``) and from sync code
    (``p.start()`` … ``p.close()``); ``emit`` may be called from any thread.
    """

    def __init__(self, settings: ProducerSettings | None = None, **overrides: object) -> None:
        """Never raises: invalid settings disable instrumentation (``disabled`` says why, one
        error is logged) and an unusable outbox directory leaves the producer memory-only."""
        self.disabled: str | None = None
        try:
            self.settings = settings or load_settings(ProducerSettings, **overrides)
        except SettingsError as exc:
            self.disabled = "invalid settings: " + "; ".join(exc.problems)
            log.error("tooltrail: instrumentation disabled: %s", self.disabled)  # noqa: TRY400 - one line, not a traceback
            self.settings = ProducerSettings.model_construct(enable_instrumentation=False)
        self._queue: collections.deque[Item] = collections.deque()
        self._lock = threading.Lock()
        self._counters = Counters()
        self._outbox = Outbox(
            self.settings.outbox_dir,
            self.settings.outbox_max_bytes,
            self.settings.outbox_segment_bytes,
        )
        if self._outbox.unusable is not None and self.disabled is None:
            log.warning("tooltrail: the outbox is unusable, events wait in memory only "
                        "(set TOOLTRAIL_OUTBOX_DIR to a writable directory)",
                        extra={"reason": self._outbox.unusable})  # fmt: skip
        self._sender: Sender | None = None
        self.enrichment: EnrichmentCache | None = (
            EnrichmentCache(self.settings) if self.settings.enable_presearch else None
        )
        self._closed = False
        self._last_overflow_warning = 0.0
        self._built = 0
        self._emitted = 0
        self._queue_size = self.settings.queue_size
        self._batch_size = self.settings.batch_size

    @staticmethod
    def default_settings() -> ProducerSettings:
        """Settings from the environment alone (benchmarks and tools build events with them)."""
        return load_settings(ProducerSettings)

    # --- hot path ------------------------------------------------------------------------------
    def emit(self, event: Item) -> None:
        """Queue ``event`` for Kafka. Any thread; never blocks on I/O, never raises, O(1).

        ``event`` is a ``ToolExecutionEvent`` or a raw ``ToolCall`` (adapters pass calls, so
        redaction and validation run in the sender thread, not on the tool call's path).

        Overflow: when the queue holds ``queue_size`` events (or after ``close``), the event
        is written to the outbox instead (a buffered file append); if even that fails it is
        dropped and counted. Nothing is logged per call (one warning per interval at most).
        """
        if self.disabled is not None:
            self._counters.add("dropped:disabled")
            return
        try:
            with self._lock:
                self._emitted += 1
                if not self._closed and len(self._queue) < self._queue_size:
                    self._queue.append(event)
                    if len(self._queue) == self._batch_size and self._sender is not None:
                        self._sender.wake()
                    return
            self._spill([event], reason="queue_full" if not self._closed else "closed")
        except Exception:  # noqa: BLE001 - instrumentation must never fail a tool call
            self._counters.add("internal_errors")

    def materialize(self, items: Sequence[Item]) -> list[ToolExecutionEvent]:
        """Turn queued items into events; an item that cannot become one is counted dropped."""
        events = []
        for item in items:
            if isinstance(item, ToolExecutionEvent):
                events.append(item)
                continue
            try:
                self._built += 1
                events.append(build_event(item, self.settings, self._built))
            except Exception:
                self._counters.add("dropped:invalid_event")
                log.exception("tooltrail: could not build an event for %s", item.tool_id)
        return events

    def _spill(self, items: Sequence[Item], reason: str) -> None:
        events = self.materialize(items)
        try:
            self._outbox.append([(e.session_id.encode(), encode(e)) for e in events])
            self._counters.add("spilled", len(events))
        except Exception:  # noqa: BLE001 - disk full/unwritable: count it, never raise
            self._counters.add("dropped:outbox_error", len(events))
            reason = "outbox_error"
        now = time.monotonic()
        if now - self._last_overflow_warning >= self.settings.overflow_warn_interval_s:
            self._last_overflow_warning = now
            log.warning("tooltrail: events spilled or dropped", extra={"reason": reason})

    def take(self, limit: int) -> list[Item]:
        """Remove and return up to ``limit`` queued events, oldest first (sender thread)."""
        with self._lock:
            n = min(limit, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    def count_internal_error(self) -> None:
        """Count a failure inside instrumentation (adapters call this; it never raises)."""
        self._counters.add("internal_errors")

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Self:
        """Start the sender thread and return at once (Kafka may be down: events spill)."""
        if self.settings.strict_stdio_logs:
            keep_logs_off_stdout()
        if self._sender is None and not self._closed and self.disabled is None:
            self._sender = Sender(self, self._outbox, self._counters)
            self._sender.start()
            if self.enrichment is not None:
                self.enrichment.start()
            atexit.register(self.close)
        return self

    def close(self, timeout: float | None = None) -> None:
        """Flush within ``timeout`` (default ``shutdown_timeout_s``); spill the rest. Idempotent."""
        deadline = self.settings.shutdown_timeout_s if timeout is None else timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        if self.enrichment is not None:
            self.enrichment.close()
        if self._sender is not None:
            self._sender.stop(deadline)
        leftover = self.take(len(self._queue))  # whatever the sender could not take in time
        if leftover:
            self._spill(leftover, reason="shutdown")
        self._outbox.close()

    async def aclose(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the documented API
        """``close`` for async callers: waits in a worker thread, not on the event loop."""
        import asyncio  # local: keep the sync import path minimal

        await asyncio.to_thread(self.close, timeout)

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- observation ---------------------------------------------------------------------------
    def stats(self) -> ProducerStats:
        """A snapshot of every counter."""
        c = self._counters
        return ProducerStats(
            emitted=self._emitted,
            sent=c.get("sent"),
            spilled=c.get("spilled"),
            resent=c.get("resent"),
            dropped={
                **c.dropped(),
                **({"outbox_full": self._outbox.dropped} if self._outbox.dropped else {}),
            },
            queue_depth=len(self._queue),
            outbox_pending=self._outbox.pending,
            outbox_bytes=self._outbox.size_bytes,
            connected=self._sender is not None and self._sender.connected,
            outbox_usable=self._outbox.unusable is None,
            internal_errors=c.get("internal_errors"),
            restarts=c.get("restarts"),
        )
