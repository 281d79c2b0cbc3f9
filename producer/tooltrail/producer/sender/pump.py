"""``Sender``: the thread and its loop, and the pump that moves records out of the accumulator.

The pump takes what gathered in the accumulator every ``TOOLTRAIL_LINGER_MS`` while calls
flow (at once when a full batch, ``TOOLTRAIL_BATCH_SIZE``, is waiting) and sleeps when they
stop; each batch becomes a flight or goes to the outbox. The link, resend and (with
pre-search) enrichment tasks run beside it, each supervised: a task that crashes is logged,
counted (``restarts``) and started again. ``stop`` flushes until its deadline and keeps the
rest in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable

from tooltrail.producer.accumulator import Accumulator
from tooltrail.producer.outbox import AnyOutbox
from tooltrail.producer.record import Record
from tooltrail.producer.sender.handover import PromptSelector
from tooltrail.producer.sender.resend import Resend
from tooltrail.producer.sender.state import LOGGER_NAME, first_of
from tooltrail.producer.settings import ProducerSettings
from tooltrail.producer.stats import Counters
from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.kafka.meta import no_auto_create_here

log = logging.getLogger(LOGGER_NAME)  # here too, so that linters see a logger
_IDLE_AFTER_S = 0.1  # no call for this long: the pump sleeps until the next one wakes it


class Sender(Resend):
    """Everything after the accumulator (see ``tooltrail.producer.sender``)."""

    def __init__(
        self,
        settings: ProducerSettings,
        accumulator: Accumulator[Record],
        outbox: AnyOutbox,
        counters: Counters,
        follower: Callable[[asyncio.Event], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(settings, accumulator, outbox, counters, follower)
        self.taken = 0  # items drained from the accumulator (read by stats)
        self._link_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # the pump's: a put into a sleeping pump, or stop
        self._thread = threading.Thread(target=self._main, name="tooltrail-sender", daemon=True)

    # --- control (any thread) --------------------------------------------------------------
    def start(self) -> None:
        """Start the thread; returns at once."""
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Flush until ``timeout`` seconds from now, keep the rest in the outbox, join."""
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(self._stop.set)
                loop.call_soon_threadsafe(self._wake.set)
        self._thread.join(timeout + 2.0)

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    @property
    def holding(self) -> int:
        """Events only the sender holds: in flight (not those still in the outbox) or
        acknowledged and not yet confirmed."""
        return self.in_flight - self.in_flight_resent + self.unconfirmed

    @property
    def unconfirmed(self) -> int:
        """Events acknowledged and not yet confirmed on the topic's id."""
        return sum(len(a.recs) for a in list(self._unconfirmed))

    def _wake_pump(self) -> None:
        """Wake the pump (``Accumulator.put`` calls this when the pump sleeps)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)

    # --- thread body -------------------------------------------------------------------------
    def _main(self) -> None:
        wait_us = self.settings.sender_gil_wait_us
        try:
            with asyncio.Runner(
                loop_factory=lambda: asyncio.SelectorEventLoop(PromptSelector(wait_us))
            ) as runner:
                runner.run(self._run())
        except Exception:
            self.counters.add("restarts")
            log.exception("tooltrail sender stopped on an error")

    async def _run(self) -> None:
        no_auto_create_here()  # this loop's Kafka clients never create the topic they name
        self._loop = asyncio.get_running_loop()
        if self._stopping.is_set():
            self._stop.set()
        self.acc.waker = self._wake_pump
        self._link_task = asyncio.create_task(self._supervised("link", self._link_loop))
        tasks = [
            self._link_task,
            asyncio.create_task(self._supervised("resend", self._resend_loop)),
        ]
        if self.follower is not None:
            tasks.append(asyncio.create_task(self._supervised("enrichment", self._follow)))
        try:
            await self._supervised("pump", self._pump)
            await self._finish()
        finally:
            self.acc.waker = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.live = False
            if self._kafka is not None:
                await settle(stop_kafka(self._kafka), max(self._time_left(), 0.5))
            with contextlib.suppress(OSError):
                self.outbox.sync()

    async def _supervised(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await body()
            except Exception:  # a crashed task is started again, never the end
                self.counters.add("restarts")
                log.exception("tooltrail sender: %s crashed; restarting", name)
                if self._stop.is_set():
                    return
                await asyncio.sleep(1.0)
            else:
                return

    async def _follow(self) -> None:
        if self.follower is not None:
            await self.follower(self._stop)

    # --- pump: accumulator -> flights or outbox ------------------------------------------------
    async def _pump(self) -> None:
        s, acc = self.settings, self.acc
        linger = max(s.linger_ms / 1000, 0.001)
        acc.wake_at = s.batch_size  # a full batch does not wait for the linger
        last_items = time.monotonic()
        while True:
            if self._wait_for_room():  # Kafka is answering: wait for a flight to end
                self._room.clear()
                await first_of(self._room.wait(), self._stop.wait(), timeout=linger)
                continue
            limit = self._take_limit()
            self._wake.clear()  # a stop that set it also set _stop, checked below
            acc.nudged = False
            recs = acc.drain(limit)
            if recs:
                self.taken += len(recs)
                last_items = time.monotonic()
                self._route(recs)
                self._warn_drops()
                if len(recs) == limit:
                    await asyncio.sleep(0)  # let acknowledgements in, then take more
                    continue
            if self._stop.is_set():
                if not len(acc):
                    return
                continue
            if time.monotonic() - last_items < _IDLE_AFTER_S:
                await self._nap(linger)  # calls flow: take them every linger, or a full batch
                continue
            acc.asleep = True  # calls stopped: sleep until the next put (or stop) wakes us
            if len(acc):
                acc.asleep = False
                continue
            await self._wake.wait()
            self._wake.clear()
            acc.nudged = False
            if not self._stop.is_set():  # let the call that woke us finish first, and others
                await self._nap(linger)  # gather behind it (up to a full batch)

    async def _nap(self, seconds: float) -> None:
        """Sleep up to ``seconds``; a wake-up (a full batch waiting, stop) ends it early.

        No task is created for it: every extra step of the sender's loop is one more time its
        thread must take the GIL back from a busy tool server (README)."""
        if self._wake.is_set() or len(self.acc) >= self.acc.wake_at:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _finish(self) -> None:
        """At stop: wait for flights until the deadline, then keep the rest in the outbox."""
        if self._flights:
            await asyncio.wait(list(self._flights), timeout=max(self._time_left(), 0.0))
        for task in list(self._flights):
            task.cancel()  # its unacknowledged events go to the outbox
        await asyncio.gather(*list(self._flights), return_exceptions=True)
        await self._drain_at_stop()
        if self._unconfirmed and self.live:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._check_topic(), max(self._time_left(), 0.5))
        self._respill_unconfirmed("stopping before they could be confirmed")
        self._warn_drops()

    async def _drain_at_stop(self) -> None:
        """Resend the outbox until it is empty or the deadline (a producer closed right after
        it started has spilled what it got before Kafka answered)."""
        link = self._link_task
        while self.outbox.pending and self._time_left() > 0.05:
            if self._kafka is None and link is not None and not link.done():
                await asyncio.sleep(0.02)  # the link's connection attempt: let it finish
                continue
            try:
                async with asyncio.timeout(self._time_left()):
                    if self._kafka is None:  # stopped before the link ever connected
                        self._kafka = await self._connect()
                        if self._kafka is None:
                            return
                    if not self.live and not await self._check_topic():
                        return
                    await self._resend_once()
            except TimeoutError:
                return
