"""What every part of the sender shares: its settings, counters, state and wake-ups.

The parts (``spill``, ``link``, ``flights``, ``resend``, ``pump``) are layers of one object
that runs on one asyncio loop. This base holds only what they all read; each part sets its
own fields in its own ``__init__``, so a part can touch only its fields and those of the
parts below it (mypy refuses the others) and each field has one owner.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tooltrail.producer.accumulator import Accumulator
from tooltrail.producer.outbox import AnyOutbox
from tooltrail.producer.record import Record
from tooltrail.producer.settings import ProducerSettings
from tooltrail.producer.stats import Counters

#: One logger for every part, so that the sender's log lines keep their one name.
LOGGER_NAME = "tooltrail.producer.sender"
log = logging.getLogger(LOGGER_NAME)
Position = tuple[int, int]  # where a record ends in the outbox: (segment, end)


@dataclass(slots=True)
class AckedBatch:
    """Records acknowledged at one time: confirmed together on the topic's id."""

    at: float  # loop time of the acknowledgement
    recs: list[Record] = field(default_factory=list)


@dataclass(slots=True)
class ResentRecord(Record):
    """A record read back from the outbox: it stays there until its whole batch is acked."""

    pos: Position | None = None  # where it ends in the outbox


def position_of(rec: Record) -> Position | None:
    """Where ``rec`` ends in the outbox, or None for a record that was never there."""
    return rec.pos if isinstance(rec, ResentRecord) else None


class SenderState:
    """What every part of the sender reads (see module docstring)."""

    def __init__(
        self,
        settings: ProducerSettings,
        accumulator: Accumulator[Record],
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
        self._loop: asyncio.AbstractEventLoop | None = None
        # created here, bound to the sender's loop when first awaited there
        self._link_wake, self._stop = asyncio.Event(), asyncio.Event()
        self._resend_wake = asyncio.Event()
        self._stopping = threading.Event()
        self._deadline = float("inf")

    def _time_left(self) -> float:
        """Seconds until stop's deadline (infinite until ``stop`` is called)."""
        return self._deadline - time.monotonic()

    def _wake_link(self) -> None:
        """Have the link check the topic now (an ack to confirm, or a failure)."""
        self._link_wake.set()

    def _wake_resend(self) -> None:
        """Have the resend side look at the outbox now (the link just came up)."""
        self._wake_link()
        self._resend_wake.set()


async def first_of(*aws: Awaitable[Any], timeout: float | None = None) -> None:  # noqa: ASYNC109
    """Return when the first of ``aws`` completes, or after ``timeout``; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
