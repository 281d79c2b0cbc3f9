"""The sender: one daemon thread, one asyncio loop; it only moves finished bytes.

Records arrive built (``emit`` builds each on the thread that made the call). The sender owns
every step past the ``Accumulator``: the Kafka producer, the on-disk outbox (its only writer),
resending it, confirming acknowledgements, and, when pre-search is on, following the
enrichment topic. Each of those runs as a supervised task of the one loop: a task that
crashes is logged, counted (``restarts``) and started again. It wakes rarely: a record put
into a sleeping sender wakes it, and it then waits ``TOOLTRAIL_LINGER_MS`` before taking
what has gathered, so its work lands after the call's response, once per batch; while calls
flow it takes them every ``TOOLTRAIL_LINGER_MS``. Work on a resend batch (outbox records,
parsed for their headers) is paced (``Pacer``): after each ``TOOLTRAIL_SENDER_SLICE_US`` of it
the thread sleeps ``TOOLTRAIL_SENDER_PAUSE_US`` so that a busy tool-server thread is not kept
waiting for the GIL; live batches of finished records are short and not paced.

**Where an event is at any time, and for how long.**

* In the accumulator until the next drain (``TOOLTRAIL_LINGER_MS`` after the first record).
* Sent to Kafka (a *flight*) if Kafka is live and fewer than ``TOOLTRAIL_MAX_IN_FLIGHT``
  events are unacknowledged; else written to the outbox at once. A flight not acknowledged
  within ``TOOLTRAIL_SEND_TIMEOUT_S`` goes to the outbox and Kafka counts as down: no event
  waits in memory longer than that, so a process killed during a stall loses at most what
  it received in the last ``TOOLTRAIL_SEND_TIMEOUT_S``. While Kafka is down the outbox takes
  every batch at once.
* Acknowledged, but not yet counted ``sent``: the broker may have acknowledged it on a topic
  that no longer exists (a broker restarted without storage does that). Every
  ``TOOLTRAIL_ACK_CONFIRM_INTERVAL_MS`` the sender asks for the topic's id (Kafka metadata
  v10+): acknowledgements received before the request on the same topic id are counted
  ``sent``; if the topic is gone or has a new id they go back to the outbox.
* In the outbox until resent. The outbox drains while new calls flow: one resend batch at a
  time beside the live flights (so after an outage, newer events may reach Kafka before
  older ones; each event carries ``startedAt`` and ``producerSeq``, and no consumer relies on
  order). A send that timed out can still be delivered later; before resending, the sender
  waits for such late answers (up to ``TOOLTRAIL_REQUEST_TIMEOUT_MS``) and skips what they
  delivered (``late_acks``), so no duplicate is written in that case. A request that failed
  without telling whether the broker wrote it (timed out, connection lost) is resent, and
  counted ``maybe_duplicated``: without idempotence (Tansu cannot do it) the topic may hold
  two copies, which the sinks deduplicate by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, RequestTimedOutError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition

from tooltrail.producer import outbox_files
from tooltrail.producer.accumulator import Accumulator
from tooltrail.producer.outbox import AnyOutbox
from tooltrail.producer.record import Record as Rec
from tooltrail.producer.settings import ProducerSettings
from tooltrail.producer.stats import Counters
from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.backoff import Backoff
from tooltrail.schemas.headers import event_headers_of
from tooltrail.schemas.kafka.clients import kafka_producer
from tooltrail.schemas.kafka.meta import no_auto_create_here, topic_ids

log = logging.getLogger(__name__)
T = TypeVar("T")
Position = tuple[int, int]  # where a record ends in the outbox: (segment, end)
_IDLE_AFTER_S = 0.1  # no call for this long: the pump sleeps until the next one wakes it
_BACKOFF_START_S = 0.2
_PARTITIONER = DefaultPartitioner()
#: Batch and request framing around one record (its headers counted apart).
RECORD_OVERHEAD = 512


@dataclass(slots=True)
class _Group:
    """One record batch of a flight: its builder, partition, future and records."""

    batch: Any
    partition: int
    recs: list[Rec]
    future: asyncio.Future[Any] | None = None
    sent: Any = None  # the client's own record of the batch (how often it was sent)


@dataclass(slots=True)
class _Acked:
    at: float  # loop time of the acknowledgement
    recs: list[Rec] = field(default_factory=list)


@dataclass(slots=True)
class _Resent(Rec):
    """A record read back from the outbox: it stays there until its whole batch is acked."""

    pos: Position | None = None  # where it ends in the outbox


def _pos(rec: Rec) -> Position | None:
    return rec.pos if isinstance(rec, _Resent) else None


class Sender:
    """Everything after the accumulator (see module docstring)."""

    def __init__(
        self,
        settings: ProducerSettings,
        accumulator: Accumulator[Rec],
        outbox: AnyOutbox,
        counters: Counters,
        follower: Callable[[asyncio.Event], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.acc = accumulator
        self.outbox = outbox
        self.counters = counters
        self.follower = follower
        self.live = False  # Kafka answers and the events topic exists: batches are sent
        self.taken = 0  # items drained from the accumulator (read by stats)
        self.in_flight = 0  # events sent and not yet acknowledged
        self.in_flight_resent = 0  # of which outbox records (still counted pending there)
        self._thread = threading.Thread(target=self._main, name="tooltrail-sender", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        # created here, bound to the sender's loop when first awaited there
        self._wake, self._link_wake, self._stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._resend_wake = asyncio.Event()
        self._room = asyncio.Event()  # set whenever a flight ends (its events leave in_flight)
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._kafka: AIOKafkaProducer | None = None
        self._topic_id: bytes | None = None
        self._flights: set[asyncio.Task[None]] = set()
        self._link_task: asyncio.Task[None] | None = None
        self._unconfirmed: list[_Acked] = []
        self._late: dict[Position, asyncio.Future[Any]] = {}
        self._delivered_late: set[Position] = set()
        self._acked_resends: set[Position] = set()  # acked in a flight that partly failed
        self._resending = asyncio.Lock()  # one resend batch at a time (loop, or stop's drain)
        self.outbox_error: str | None = None  # the last error that cost spilled events
        self._sync_due: asyncio.TimerHandle | None = None
        self._sync_failing = False
        self._partition_of: dict[bytes | None, int] = {}
        # one batch at a time per partition into aiokafka: its add_batch subtracts the time
        # already waited again on every wait (aiokafka 0.13/0.14), so batches queued behind
        # several others time out early (KafkaTimeoutError) on a healthy broker
        self._handover: dict[int, asyncio.Lock] = {}
        self._partition_count = 0
        self._warned_at = -1e9
        self._warned_drops = 0
        self._pace = Pacer(settings.sender_slice_us, settings.sender_pause_us, accumulator)

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

    def keep(self, recs: Sequence[Rec]) -> None:
        """Write ``recs`` to the outbox on the calling thread (the sender is not running:
        never started, or stopped). Never raises."""
        if not recs:
            return
        try:
            self.outbox.append([(r.key, r.value) for r in recs])
        except OSError as exc:
            self._count_lost(recs, exc)
            return
        self.counters.add("spilled", len(recs))
        with contextlib.suppress(OSError):
            self.outbox.sync()

    def _poke(self) -> None:
        """Wake the pump (``Accumulator.put`` calls this when the pump sleeps)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)

    # --- thread body -------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception:
            self.counters.add("restarts")
            log.exception("tooltrail sender stopped on an error")

    async def _run(self) -> None:
        no_auto_create_here()  # this loop's Kafka clients never create the topic they name
        self._loop = asyncio.get_running_loop()
        if self._stopping.is_set():
            self._stop.set()
        self.acc.waker = self._poke
        self._link_task = asyncio.create_task(self._supervised("link", self._link))
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
                await settle(stop_kafka(self._kafka), max(self._left(), 0.5))
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

    def _left(self) -> float:
        return self._deadline - time.monotonic()

    # --- pump: accumulator -> flights or outbox ------------------------------------------------
    async def _pump(self) -> None:
        s, acc = self.settings, self.acc
        linger = max(s.linger_ms / 1000, 0.001)
        last_items = time.monotonic()
        while True:
            if self._wait_for_room():  # Kafka is answering: wait for a flight to end
                self._room.clear()
                await _first(self._room.wait(), self._stop.wait(), timeout=linger)
                continue
            recs = acc.drain(s.batch_size)
            if recs:
                self.taken += len(recs)
                last_items = time.monotonic()
                self._route(recs)
                self._warn_drops()
                if len(recs) == s.batch_size:
                    await asyncio.sleep(0)  # let acknowledgements in, then take more
                    continue
            if self._stop.is_set():
                if not len(acc):
                    return
                continue
            if time.monotonic() - last_items < _IDLE_AFTER_S:
                await asyncio.sleep(linger)  # calls flow: take them every linger
                continue
            acc.asleep = True  # calls stopped: sleep until the next put (or stop) wakes us
            if len(acc):
                acc.asleep = False
                continue
            await self._wake.wait()
            self._wake.clear()
            if not self._stop.is_set():  # let the call that woke us finish first, and others
                await _first(self._stop.wait(), timeout=linger)  # gather behind it

    async def _finish(self) -> None:
        """At stop: wait for flights until the deadline, then keep the rest in the outbox."""
        if self._flights:
            await asyncio.wait(list(self._flights), timeout=max(self._left(), 0.0))
        for task in list(self._flights):
            task.cancel()  # its unacknowledged events go to the outbox
        await asyncio.gather(*list(self._flights), return_exceptions=True)
        await self._drain_at_stop()
        if self._unconfirmed and self.live:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._check(), max(self._left(), 0.5))
        self._respill_unconfirmed("stopping before they could be confirmed")
        self._warn_drops()

    async def _drain_at_stop(self) -> None:
        """Resend the outbox until it is empty or the deadline (a producer closed right after
        it started has spilled what it got before Kafka answered)."""
        link = self._link_task
        while self.outbox.pending and self._left() > 0.05:
            if self._kafka is None and link is not None and not link.done():
                await asyncio.sleep(0.02)  # the link's connection attempt: let it finish
                continue
            try:
                async with asyncio.timeout(self._left()):
                    if self._kafka is None:  # stopped before the link ever connected
                        self._kafka = await self._connect()
                        if self._kafka is None:
                            return
                    if not self.live and not await self._check():
                        return
                    await self._resend_once()
            except TimeoutError:
                return

    @property
    def last_outbox_error(self) -> str | None:
        """The last disk error that cost events: a failed spill, or a segment given up."""
        return self.outbox_error or self.outbox.drop_error

    def _warn_drops(self) -> None:
        """At most one warning per ``TOOLTRAIL_OVERFLOW_WARN_INTERVAL_S`` about lost events."""
        dropped = self.counters.dropped()
        outbox = dict(self.outbox.drops)
        total = sum(dropped.values()) + sum(outbox.values())
        now = time.monotonic()
        if total > self._warned_drops and now - self._warned_at >= (
            self.settings.overflow_warn_interval_s
        ):
            self._warned_at, self._warned_drops = now, total
            log.warning(
                "tooltrail: events were dropped (last outbox error: %s)",
                self.last_outbox_error or "none",
                extra={"dropped": {**dropped, **outbox}, "outbox_error": self.last_outbox_error},
            )

    def _wait_for_room(self) -> bool:
        """True while a burst should wait in memory for acknowledgements instead of spilling.

        With ``TOOLTRAIL_MAX_IN_FLIGHT`` events unacknowledged on a live link, new batches
        would go to the outbox (disk, then a resend). They wait instead while the accumulator
        is less than half full; a broker that stops answering ends the wait within
        ``TOOLTRAIL_SEND_TIMEOUT_S`` (the flights time out and the link goes down), and a
        filling accumulator spills rather than drop calls.
        """
        return (
            self.in_flight >= self.settings.max_in_flight
            and self.live
            and self._kafka is not None
            and not self._stop.is_set()
            and len(self.acc) < self.acc.capacity // 2
        )

    def _route(self, recs: list[Rec]) -> None:
        late = self._stopping.is_set() and self._left() <= 0
        room = self.settings.max_in_flight - self.in_flight
        if self.live and not late and self._kafka is not None and room > 0:
            fly, recs = recs[:room], recs[room:]
            self._launch(fly)
        if recs:
            self._spill(recs)

    def _launch(
        self, recs: list[Rec], on_done: Callable[[bool], None] | None = None
    ) -> asyncio.Task[None] | None:
        if self._kafka is None:  # cannot happen while live; keep the events anyway
            self._spill([r for r in recs if not r.resent])  # resent ones are still on disk
            return None
        self.in_flight += len(recs)
        self.in_flight_resent += sum(1 for r in recs if r.resent)
        task = asyncio.create_task(self._fly(self._kafka, recs, on_done))
        self._flights.add(task)
        task.add_done_callback(self._flights.discard)
        return task

    async def _fly(
        self, kafka: AIOKafkaProducer, recs: list[Rec], on_done: Callable[[bool], None] | None
    ) -> None:
        """Send ``recs``; what is not acknowledged in time goes to the outbox."""
        groups: list[_Group] = []
        limit = self.settings.send_timeout_s
        if self._stopping.is_set():
            limit = min(limit, max(self._left(), 0.05))
        try:
            async with asyncio.timeout(limit):
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
                groups.append(_Group(None, -1, recs))
            ok = self._settle_flight(groups)
            if on_done is not None:
                on_done(ok)

    def _batches(
        self, kafka: AIOKafkaProducer, partitions: list[int], recs: list[Rec]
    ) -> list[_Group]:
        """Record batches per partition (keyed like Kafka's default partitioner), in order."""
        if len(partitions) != self._partition_count:
            self._partition_of.clear()
            self._partition_count = len(partitions)
        open_: dict[int, _Group] = {}
        groups: list[_Group] = []
        for rec in recs:  # finished bytes into C record builders: too short to pace (README)
            part = self._partition_of.get(rec.key)
            if part is None:
                part = _PARTITIONER(rec.key, partitions, partitions)
                if rec.key is not None and len(self._partition_of) < 10_000:
                    self._partition_of[rec.key] = part
            group = open_.get(part)
            if group is None or not _append(group, rec):  # none yet, or full: a new batch
                group = open_[part] = _Group(kafka.create_batch(), part, [])
                groups.append(group)
                _append(group, rec)  # an empty batch takes any record
            group.recs.append(rec)
        for group in groups:
            group.batch.close()
        return groups

    def _settle_flight(self, groups: list[_Group]) -> bool:
        """Acknowledged records wait for confirmation; the others go (back) to the outbox.

        A resent record that failed is still in the outbox (it is acknowledged there only
        when its whole batch was): it is appended again only if its segment was dropped
        meanwhile. Returns True when every group was acknowledged.
        """
        loop = asyncio.get_running_loop()
        acked = _Acked(loop.time())
        failed: list[_Group] = []
        for group in groups:
            fut = group.future
            if fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None:
                acked.recs.extend(group.recs)
                self._acked_resends.update(p for r in group.recs if (p := _pos(r)) is not None)
                self._count_retried(group)
            else:
                failed.append(group)
        if acked.recs:
            self._unconfirmed.append(acked)
            self._kick_link()
        if not failed:
            return True
        self._down("a batch was not acknowledged in time")
        for group in failed:
            held = [p for r in group.recs if self.outbox.holds(p := _pos(r)) and p is not None]
            spilled = self._spill([r for r in group.recs if _pos(r) not in held])
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
        self, positions: list[Position], group: _Group, fut: asyncio.Future[Any]
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

    def _count_retried(self, group: _Group) -> None:
        """Count acknowledged records the client had sent more than once.

        aiokafka retries a request that timed out on its own (while the batch is younger
        than the request timeout); without idempotence (Tansu cannot do it) the broker may
        then hold the first copy too. Sinks deduplicate by event id; this makes it visible.
        """
        attempts = getattr(group.sent, "retry_count", 1)
        if isinstance(attempts, int) and attempts > 1:
            self.counters.add("maybe_duplicated", len(group.recs))

    def _count_ambiguous(self, group: _Group, fut: asyncio.Future[Any]) -> None:
        """Count records whose request failed without telling whether the broker wrote them.

        A request that timed out or lost its connection may still have been written (a
        paused broker processes it when it resumes); the outbox sends them again.
        """
        if fut.cancelled():
            return
        if isinstance(fut.exception(), RequestTimedOutError | KafkaConnectionError):
            self.counters.add("maybe_duplicated", len(group.recs))

    def _spill(self, recs: list[Rec]) -> list[Position] | None:
        """Append to the outbox; None (and every record counted dropped) if it refuses."""
        if not recs:
            return None
        try:
            positions = self.outbox.append([(r.key, r.value) for r in recs])
        except OSError as exc:
            if exc.errno in outbox_files.NO_SPACE and len(recs) > 1:  # keep the newer half
                half = len(recs) // 2
                self._count_lost(recs[:half], exc)
                return self._spill(recs[half:])
            self._count_lost(recs, exc)
            self._warn_drops()
            return None
        fresh = sum(1 for r in recs if not r.resent)
        if fresh:
            self.counters.add("spilled", fresh)
        self._schedule_sync()
        return positions

    def _count_lost(self, recs: Sequence[Rec], exc: OSError) -> None:
        """Count records the outbox refused, by reason; remember the errno for the logs."""
        reason = "disk_full" if exc.errno in outbox_files.NO_SPACE else "outbox_error"
        self.counters.add(f"dropped:{reason}", len(recs))
        self.outbox_error = f"{outbox_files.errno_name(exc)}: {exc.strerror or exc}"

    def _schedule_sync(self) -> None:
        if self._sync_due is not None:
            return
        loop = asyncio.get_running_loop()
        self._sync_due = loop.call_later(self.settings.outbox_fsync_interval_ms / 1000, self._sync)

    def _sync(self) -> None:
        self._sync_due = None
        try:
            self.outbox.sync()
        except OSError as exc:
            if not self._sync_failing:  # once per failing stretch
                name = outbox_files.errno_name(exc)
                log.warning("tooltrail: outbox fsync failed (%s): %s", name, exc)
            self._sync_failing = True
        else:
            self._sync_failing = False

    # --- link: connect, confirm acknowledgements, notice the topic going away ---------------
    def _kick_link(self) -> None:
        self._link_wake.set()

    def _down(self, why: str) -> None:
        if self.live:
            log.warning(
                "tooltrail: kafka is not answering; events go to the outbox", extra={"reason": why}
            )
        self.live = False
        self._kick_link()

    async def _link(self) -> None:
        s = self.settings
        backoff = Backoff(_BACKOFF_START_S, max(s.reconnect_backoff_max_s, _BACKOFF_START_S))
        while not self._stop.is_set():
            self._link_wake.clear()
            if not await self._check():
                await _first(self._stop.wait(), timeout=backoff.next())
                continue
            backoff.reset()
            if not self._unconfirmed:  # nothing to confirm: wait for an ack or a failure
                await _first(self._stop.wait(), self._link_wake.wait())
                if not self.live:
                    continue
            # let acknowledgements gather, then confirm them all with one request
            await _first(self._stop.wait(), timeout=s.ack_confirm_interval_ms / 1000)

    async def _check(self) -> bool:
        """Connect if needed, then read the topic's id; True when Kafka is live."""
        s = self.settings
        if self._kafka is None:
            self._kafka = await self._connect()
            if self._kafka is None:
                return False
        asked = asyncio.get_running_loop().time()
        try:
            ids = await asyncio.wait_for(
                topic_ids(self._kafka.client, [s.events_topic]), s.request_timeout_ms / 1000
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            self._down(f"metadata: {exc!r}")
            return False
        tid = ids.get(s.events_topic)
        if tid is None or (self._topic_id is not None and tid != self._topic_id):
            self._respill_unconfirmed(
                "the events topic is gone" if tid is None else "the events topic was created again"
            )
            if self._topic_id is not None and tid is not None:
                await self._reconnect()  # forget the old topic's metadata
            self._topic_id = tid
            if tid is None:
                self._down("the events topic does not exist")
                return False
            return await self._check()
        self._topic_id = tid
        self._confirm(asked)
        if not self.live:
            self.live = True
            log.info("tooltrail producer connected", extra={"bootstrap": s.kafka_bootstrap})
            self._poke_resend()
        return True

    def _confirm(self, asked: float) -> None:
        keep = []
        sent = resent = 0
        for acked in self._unconfirmed:
            if acked.at <= asked:
                for rec in acked.recs:
                    if rec.resent:
                        resent += 1
                    else:
                        sent += 1
            else:
                keep.append(acked)
        self._unconfirmed = keep
        if sent:
            self.counters.add("sent", sent)
        if resent:
            self.counters.add("resent", resent)

    def _respill_unconfirmed(self, why: str) -> None:
        recs = [rec for acked in self._unconfirmed for rec in acked.recs]
        self._unconfirmed = []
        if recs:
            log.warning(
                "tooltrail: acknowledged events are sent again",
                extra={"reason": why, "events": len(recs)},
            )
            self.counters.add("unconfirmed_acks", len(recs))
            self._spill(recs)

    async def _connect(self) -> AIOKafkaProducer | None:
        s = self.settings
        producer = kafka_producer(
            s.kafka_kwargs(),
            acks="all" if s.acks == "all" else int(s.acks),
            enable_idempotence=s.enable_idempotence,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=0,  # the pump already batches every TOOLTRAIL_LINGER_MS
            max_batch_size=65_536,
            request_timeout_ms=s.request_timeout_ms,
            max_request_size=s.max_request_size,
            metadata_max_age_ms=30_000,
        )
        try:
            await asyncio.wait_for(producer.start(), s.request_timeout_ms / 1000)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("kafka not reachable yet: %s", exc)
            await settle(stop_kafka(producer), s.request_timeout_ms / 1000)
            return None
        except asyncio.CancelledError:  # cut short (stop's deadline): leave nothing open
            await settle(stop_kafka(producer), 1.0)
            raise
        return producer

    async def _reconnect(self) -> None:
        kafka, self._kafka = self._kafka, None
        if kafka is not None:
            await settle(stop_kafka(kafka), self.settings.request_timeout_ms / 1000)
        self._kafka = await self._connect()

    # --- resend: the outbox drains beside live traffic -----------------------------------------
    def _poke_resend(self) -> None:
        self._kick_link()
        self._resend_wake.set()

    async def _resend_loop(self) -> None:
        adopt_every = self.settings.outbox_adopt_interval_s
        adopted_at = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - adopted_at >= adopt_every:  # dead processes' outboxes
                adopted_at = time.monotonic()
                if self.outbox.adopt_orphans():
                    self._resend_wake.set()
            if not (self.live and self.outbox.pending and self._kafka is not None):
                self._resend_wake.clear()
                await _first(self._stop.wait(), self._resend_wake.wait(), timeout=1.0)
                continue
            if self.in_flight >= self.settings.max_in_flight:
                await asyncio.sleep(self.settings.linger_ms / 1000 or 0.001)
                continue
            await self._resend_once()

    async def _resend_once(self) -> None:
        async with self._resending:
            await self._resend_batch()

    async def _resend_batch(self) -> None:
        s = self.settings
        room = max(min(s.batch_size, s.max_in_flight - self.in_flight), 1)
        records = self.outbox.peek(room)
        if not records:  # nothing readable (a segment dropped meanwhile): never spin
            await asyncio.sleep(0.05)
            return
        # sends of these records that timed out may still be answered: wait, then skip those
        late = {id(f): f for r in records if (f := self._late.get((r.segment, r.end)))}
        if late:
            await asyncio.wait(late.values(), timeout=s.request_timeout_ms / 1000)
        recs: list[Rec] = []
        skipped = 0
        for r in self._pace.over(records):
            pos = (r.segment, r.end)
            if pos in self._delivered_late:
                self._delivered_late.discard(pos)
                skipped += 1
            elif pos in self._acked_resends:  # counted resent once confirmed
                self._acked_resends.discard(pos)
            else:
                headers, ts = event_headers_of(r.value)
                recs.append(_Resent(r.key, r.value, True, ts, headers, pos))
        if skipped:
            self.counters.add("late_acks", skipped)
            self.counters.add("resent", skipped)
        last, count = records[-1], len(records)
        if not recs:
            self.outbox.ack(last, count)
            return
        acked = False

        def finished(ok: bool) -> None:  # when the flight ends, even if cut short at stop
            nonlocal acked
            if ok:  # else the records stay in the outbox and are sent again
                acked = True
                self._acked_resends.difference_update(_pos(r) for r in recs)
                self.outbox.ack(last, count)

        try:
            task = self._launch(recs, on_done=finished)
            if task is not None:
                await asyncio.wait({task})
        finally:  # also when cancelled at stop: what was lent is pending again
            if not acked:
                self.outbox.give_back()


class Pacer:
    """Hands the GIL to other threads while the sender works through a batch.

    On CPython a thread that waits for the GIL gets it when the holder blocks, or when it has
    waited a whole switch interval (5 ms) and asks for it; a release that the holder takes
    back at once (``sleep(0)``) restarts that wait. A tool-server thread that needs the GIL
    while the sender builds a batch would wait up to 5 ms; the sender therefore sleeps for
    ``pause_us`` after each ``slice_us`` of work, a real sleep that lets the waiting thread
    in. No pause while the accumulator is over a quarter full: then the sender is behind and
    works at full speed rather than drop calls.
    """

    __slots__ = ("_acc", "_pause", "_slice", "_start", "pauses")

    def __init__(self, slice_us: int, pause_us: int, acc: Accumulator[Any]) -> None:
        self._slice = slice_us / 1e6
        self._pause = pause_us / 1e6
        self._acc = acc
        self._start = 0.0
        self.pauses = 0

    def over(self, items: Iterable[T]) -> Iterator[T]:
        """``items`` one by one, pausing between two of them when a slice is used up."""
        self.begin()
        for item in items:
            self.tick()
            yield item

    def begin(self) -> None:
        """A new stretch of work starts now (the sender has just taken the GIL)."""
        self._start = time.perf_counter()

    def tick(self) -> None:
        """Between two items: pause if this stretch has lasted ``slice_us``."""
        if not self._slice or time.perf_counter() - self._start < self._slice:
            return
        acc = self._acc
        if len(acc) * 4 < acc.capacity:
            self.pauses += 1
            time.sleep(self._pause)
        self._start = time.perf_counter()


def _client_batch(kafka: AIOKafkaProducer, topic: str, group: _Group) -> Any:
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


def _append(group: _Group, rec: Rec) -> bool:
    """Add ``rec`` to the group's batch; False if the batch is full."""
    return (
        group.batch.append(key=rec.key, value=rec.value, timestamp=rec.ts, headers=rec.headers)
        is not None
    )


async def _first(*aws: Awaitable[Any], timeout: float | None = None) -> None:  # noqa: ASYNC109
    """Return when the first of ``aws`` completes, or after ``timeout``; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
