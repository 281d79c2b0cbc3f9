"""``TrailProducer``: the never-blocking event emitter embedded in tool servers.

The thread that made the call pays for its event, once: ``emit`` of a finished ``Record``
puts it into the ``Accumulator`` (a deque append: no lock shared with the sender, no I/O
whatever the state) and returns. ``emit`` of a ``ToolCall`` (or of a model event) first
builds its record right there, on the calling thread (``event_bytes``: redaction within the
per-event budget, summary, encoding): on CPython with a GIL, work handed to another thread
is paid by the process anyway, plus the hand-over. The sender thread
(``tooltrail.producer.sender``) only moves finished bytes: into Kafka, into the outbox and
back, on one asyncio loop. The tool server's own event loop never awaits Kafka.

**Overflow policy.** When the accumulator holds ``TOOLTRAIL_QUEUE_SIZE`` records, ``emit``
drops the call and counts it (``dropped["queue_full"]``), as OpenTelemetry's batch span
processor does: the alternative, writing it on the caller's thread, would put disk I/O on
the tool call. The accumulator fills only when the sender cannot move bytes as fast as calls
arrive (it never waits for Kafka: while Kafka stalls it writes to the outbox at disk speed).
A call after ``close`` is dropped the same way (``dropped["closed"]``); a call no event can
describe is dropped as ``invalid_event`` (and counted in ``internal_errors``), one larger
than Kafka's request limit as ``too_large``.
"""

from __future__ import annotations

import atexit
import itertools
import logging
from types import TracebackType
from typing import Any, Self

from tooltrail.producer.accumulator import Accumulator
from tooltrail.producer.calls import ToolCall
from tooltrail.producer.enrichment import EnrichmentCache, trust_problem
from tooltrail.producer.event_bytes import build_record, record_of
from tooltrail.producer.outbox import AnyOutbox, MemoryOutbox, Outbox
from tooltrail.producer.record import Record
from tooltrail.producer.sender import RECORD_OVERHEAD, Sender
from tooltrail.producer.settings import ProducerSettings
from tooltrail.producer.stats import Counters, ProducerStats
from tooltrail.producer.stdio import keep_logs_off_stdout
from tooltrail.schemas.config import load_settings
from tooltrail.schemas.errors import SettingsError
from tooltrail.schemas.events import ToolExecutionEvent
from tooltrail.schemas.redact import budget_stats
from tooltrail.schemas.redact.logfilter import redact_loggers

log = logging.getLogger(__name__)
__all__ = ["Item", "Record", "ToolCall", "ToolExecutionEvent", "TrailProducer"]
#: What ``emit`` takes: a finished record, or a call or model event it builds one from.
Item = Record | ToolCall | ToolExecutionEvent
_HEADROOM = 4096  # key and headers of one record fit in this
_AT_EMIT = ("queue_full", "closed", "disabled", "invalid_event", "too_large")


class TrailProducer:
    """Facade over the accumulator, the outbox and the sender thread (see module docstring).

    Usable from async code (``async with TrailProducer() as p``) and from sync code
    (``p.start()`` … ``p.close()``); ``emit`` may be called from any thread.
    """

    def __init__(self, settings: ProducerSettings | None = None, **overrides: object) -> None:
        """Never raises: invalid settings disable instrumentation (``disabled`` says why, one
        error is logged) and an unusable outbox directory leaves the outbox in memory."""
        self.disabled: str | None = None
        try:
            self.settings = settings or load_settings(ProducerSettings, **overrides)
        except SettingsError as exc:
            self.disabled = "invalid settings: " + "; ".join(exc.problems)
            log.error("tooltrail: instrumentation disabled: %s", self.disabled)  # noqa: TRY400 - one line, not a traceback
            self.settings = ProducerSettings.model_construct(enable_instrumentation=False)
        s = self.settings
        self._counters = Counters()
        self._accumulator: Accumulator[Record] = Accumulator(s.queue_size)
        self._seq = itertools.count(1)  # producerSeq; next() is atomic under the GIL
        self._largest = s.max_request_size - RECORD_OVERHEAD
        self._accumulator.closed = self.disabled is not None
        disk = Outbox(s.outbox_dir, s.outbox_max_bytes, s.outbox_segment_bytes)
        self._outbox: AnyOutbox = disk
        if disk.refused is not None:
            self._outbox = MemoryOutbox(s.outbox_max_bytes, disk.refused)
            self._counters.add("outbox_refused")
            if self.disabled is None:
                log.warning(
                    "tooltrail: the outbox directory is unusable, spilled events are kept "
                    "in memory only (set TOOLTRAIL_OUTBOX_DIR to a private directory of "
                    "this user): %s",
                    disk.refused,
                )
        self.enrichment: EnrichmentCache | None = None
        self.presearch_off: str | None = None if s.enable_presearch else "disabled"
        if s.enable_presearch and self.disabled is None:
            self.presearch_off = trust_problem(s)
            if self.presearch_off is not None:
                log.warning("tooltrail: %s", self.presearch_off)
            else:
                self.enrichment = EnrichmentCache(s)
        follower = self.enrichment.follow if self.enrichment is not None else None
        self._sender = Sender(s, self._accumulator, self._outbox, self._counters, follower)
        self._started = False
        self._closed = False

    @staticmethod
    def default_settings() -> ProducerSettings:
        """Settings from the environment alone (benchmarks and tools build events with them)."""
        return load_settings(ProducerSettings)

    # --- hot path ------------------------------------------------------------------------------
    def emit(self, item: Item) -> None:
        """Hand ``item`` to the sender. Any thread; no I/O, no lock, never raises.

        A ``Record`` is put as it is (O(1)). A ``ToolCall`` or ``ToolExecutionEvent`` is first
        built into its record on this thread (adapters call this right after the tool
        returns); a build that fails is counted (``invalid_event``, ``internal_errors``),
        never raised. When the accumulator is full, or after ``close``, the call is dropped
        and counted before anything is built (see the module docstring); the sender logs at
        most one warning per interval.
        """
        try:
            acc = self._accumulator
            if acc.closed or len(acc) >= acc.capacity:
                self._count_drop()
                return
            record = item if type(item) is Record else self._build(item)
            if record is not None and not acc.put(record):
                self._count_drop()
        except Exception:  # noqa: BLE001 - instrumentation must never fail a tool call
            self._counters.add("internal_errors")

    def _build(self, item: ToolCall | ToolExecutionEvent | Record) -> Record | None:
        """The record of ``item``, or None (counted) if it cannot be one."""
        try:
            if isinstance(item, ToolCall):
                record = build_record(item, self.settings, next(self._seq))
            elif isinstance(item, ToolExecutionEvent):
                record = record_of(item)
            else:
                record = item
        except Exception as exc:  # noqa: BLE001 - one bad call must not cost the tool call
            self._counters.add("dropped:invalid_event")
            self._counters.add("internal_errors")
            # the type only: an exception's text may quote the call's raw values
            log.debug("tooltrail: could not build an event (%s)", type(exc).__name__)
            return None
        # headers are bounded (a few hundred bytes): the exact size only near the limit
        if len(record.value) + _HEADROOM > self._largest and record.size > self._largest:
            self._counters.add("dropped:too_large")
            return None
        return record

    def _count_drop(self) -> None:
        if self.disabled is not None:
            self._counters.add("dropped:disabled")
        else:
            self._counters.add("dropped:closed" if self._closed else "dropped:queue_full")

    def take(self, limit: int) -> list[Record]:
        """Remove up to ``limit`` waiting records (tests and benchmarks that time ``emit``)."""
        return self._accumulator.drain(limit)

    def count_internal_error(self) -> None:
        """Count a failure inside instrumentation (adapters call this; it never raises)."""
        self._counters.add("internal_errors")

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Self:
        """Start the sender thread and return at once (Kafka may be down: events spill)."""
        if self.settings.strict_stdio_logs:
            keep_logs_off_stdout()
        redact_loggers(limits=self.settings.redaction_limits)  # the MCP SDKs' failure logs
        if not self._started and not self._closed and self.disabled is None:
            self._started = True
            self._sender.start()
            atexit.register(self.close)
        return self

    def close(self, timeout: float | None = None) -> None:
        """Flush within ``timeout`` (default ``shutdown_timeout_s``); the rest stays in the
        outbox for the next start. Idempotent."""
        deadline = self.settings.shutdown_timeout_s if timeout is None else timeout
        if self._closed:
            return
        self._closed = True
        self._accumulator.closed = True
        atexit.unregister(self.close)
        try:
            if self._started:
                self._sender.stop(deadline)
                if self._sender.alive:  # past the deadline: what it holds is lost at exit
                    held = self._sender.holding
                    self._counters.add("dropped:close_timeout", held)
                    log.warning("tooltrail: the sender outlived close(%s); %d lost", deadline, held)
            # what the sender could not take (never started, or past its deadline) is kept
            # here; the outbox is thread-safe, so a sender still finishing is no obstacle
            leftover = self._accumulator.drain(len(self._accumulator))
            if leftover:
                self._sender.taken += len(leftover)  # taken here, not by the sender
                self._sender.keep(leftover)
            self._outbox.close()
            self._summarise()
        except Exception:  # closing telemetry must never fail the tool server
            self._counters.add("internal_errors")
            log.exception("tooltrail: closing the producer failed")

    def _summarise(self) -> None:
        """One line at close for everything lost during this run (none: no line)."""
        dropped = self.stats().dropped
        if dropped:
            log.warning(
                "tooltrail: events dropped during this run: %s (last outbox error: %s)",
                ", ".join(f"{k}={v}" for k, v in sorted(dropped.items())),
                self._sender.last_outbox_error or "none",
            )

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
        """A snapshot of every counter (no lock shared with ``emit``)."""
        c = self._counters
        dropped = c.dropped(also=self._outbox.drops)
        if self._outbox.dropped:
            dropped["outbox_full"] = self._outbox.dropped
        at_emit = sum(dropped.get(k, 0) for k in _AT_EMIT)
        queued = len(self._accumulator)
        budget = budget_stats()  # process-wide: every redaction of this process
        return ProducerStats(
            emitted=self._sender.taken + queued + at_emit,
            sent=c.get("sent"),
            spilled=c.get("spilled"),
            resent=c.get("resent"),
            dropped=dropped,
            queue_depth=queued,
            outbox_pending=self._outbox.pending,
            outbox_bytes=self._outbox.size_bytes,
            connected=self._sender.live,
            outbox_usable=self._outbox.unusable is None,
            internal_errors=c.get("internal_errors"),
            restarts=c.get("restarts"),
            in_flight=self._sender.holding,
            outbox_inherited=self._outbox.inherited,
            late_acks=c.get("late_acks"),
            unconfirmed_acks=c.get("unconfirmed_acks"),
            maybe_duplicated=c.get("maybe_duplicated"),
            redaction_over_budget=budget["over_budget"],
            redaction_masked_over_budget=budget["masked_over_budget"],
            **self._enrichment_stats(),
        )

    def _enrichment_stats(self) -> dict[str, Any]:
        cache = self.enrichment
        if cache is None:
            return {}
        return {
            "enrichment_entries": len(cache),
            "enrichment_bytes": cache.size_bytes,
            "enrichment_rejected": dict(cache.rejected),
        }
