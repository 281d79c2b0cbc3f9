"""The sender: one daemon thread with its own asyncio loop that owns the Kafka producer.

It is the only code that awaits aiokafka (whose ``send`` waits for metadata and buffer
space). Per turn it takes a batch from the queue and sends it, or spills it to the outbox
while Kafka is unreachable; when idle and connected it resends the outbox head. A crash of
the loop is logged, counted (``restarts``) and the loop is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from producer.outbox import Outbox
from producer.stats import Counters
from schemas.aio import settle
from schemas.codec import encode

if TYPE_CHECKING:
    from producer.emitter import TrailProducer

log = logging.getLogger(__name__)
_IDLE_POLL_S = 0.025
_BACKOFF_START_S = 0.2


class Sender:
    """Background sending for one ``TrailProducer`` (see module docstring)."""

    def __init__(self, owner: TrailProducer, outbox: Outbox, counters: Counters) -> None:
        self._owner = owner
        self._settings = owner.settings
        self._outbox = outbox
        self._counters = counters
        self._thread = threading.Thread(target=self._main, name="tooltrail-sender", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self.connected = False

    def start(self) -> None:
        """Start the thread; returns at once."""
        self._thread.start()

    def wake(self) -> None:
        """Ask the loop to send now (called by ``emit`` when a full batch is queued)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(wake.set)

    def stop(self, timeout: float) -> None:
        """Flush the queue until ``timeout`` seconds from now, then stop and join the thread."""
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        self.wake()
        self._thread.join(timeout + 1.0)

    # --- thread body -----------------------------------------------------------------------
    def _main(self) -> None:
        while True:
            try:
                asyncio.run(self._run())
            except Exception:
                self._counters.add("restarts")
                log.exception("tooltrail sender crashed; restarting")
                if self._stopping.wait(1.0):
                    return
            else:
                return

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        producer: AIOKafkaProducer | None = None
        backoff, next_try, last_sync = _BACKOFF_START_S, 0.0, time.monotonic()
        try:
            while True:
                now = time.monotonic()
                late = self._stopping.is_set() and now >= self._deadline
                if producer is None and now >= next_try and not late:
                    producer = await self._connect()
                    self.connected = producer is not None
                if not self.connected and now >= next_try and producer is not None and not late:
                    self.connected = await self._resend(producer)  # probe with the outbox head
                if not self.connected:
                    next_try = now + backoff if now >= next_try else next_try
                    backoff = min(backoff * 2, self._settings.reconnect_backoff_max_s)
                else:
                    backoff = _BACKOFF_START_S
                batch = self._owner.materialize(self._owner.take(self._settings.batch_size))
                if batch:
                    if self.connected and producer is not None and not late:
                        records = [(e.session_id.encode(), encode(e)) for e in batch]
                        if await self._send(producer, records):
                            self._counters.add("sent", len(batch))
                        else:
                            self.connected = False
                            next_try = time.monotonic() + backoff
                            self._owner._spill(batch, reason="kafka_unavailable")
                    else:
                        self._owner._spill(batch, reason="kafka_unavailable")
                elif self.connected and producer is not None and self._outbox.pending and not late:
                    self.connected = await self._resend(producer)
                if now - last_sync >= self._settings.outbox_fsync_interval_ms / 1000:
                    await asyncio.to_thread(self._outbox.sync)
                    last_sync = now
                if self._stopping.is_set() and (late or not self._owner._queue):
                    return
                if not batch:
                    await self._idle()
        finally:
            self.connected = False
            await asyncio.to_thread(self._outbox.sync)
            if producer is not None:
                remaining = max(self._deadline - time.monotonic(), 0.1)
                await settle(producer.stop(), min(remaining, 5.0))

    async def _idle(self) -> None:
        wake = self._wake
        if wake is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), _IDLE_POLL_S)
        wake.clear()

    async def _connect(self) -> AIOKafkaProducer | None:
        s = self._settings
        producer = AIOKafkaProducer(
            **s.kafka_kwargs(),
            acks="all" if s.acks == "all" else int(s.acks),
            enable_idempotence=s.enable_idempotence,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms,
            max_batch_size=65_536,
            request_timeout_ms=s.request_timeout_ms,
            max_request_size=s.max_request_size,
        )
        try:
            await asyncio.wait_for(producer.start(), s.request_timeout_ms / 1000)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("kafka not reachable yet: %s", exc)
            await settle(producer.stop(), s.request_timeout_ms / 1000)
            return None
        log.info("tooltrail producer connected", extra={"bootstrap": s.kafka_bootstrap})
        return producer

    async def _send(self, producer: AIOKafkaProducer, records: list[tuple[Any, bytes]]) -> bool:
        topic = self._settings.events_topic
        timeout = self._settings.send_timeout_s
        if self._stopping.is_set():
            timeout = min(timeout, max(self._deadline - time.monotonic(), 0.05))
        try:
            async with asyncio.timeout(timeout):
                futures = [await producer.send(topic, value, key=key) for key, value in records]
                await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("send failed: %r", exc)
            return False
        return True

    async def _resend(self, producer: AIOKafkaProducer) -> bool:
        records = self._outbox.peek(self._settings.batch_size)
        if not records:
            return True
        if not await self._send(producer, [(r.key, r.value) for r in records]):
            return False
        self._outbox.ack(records[-1], len(records))
        self._counters.add("resent", len(records))
        return True
