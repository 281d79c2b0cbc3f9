"""The sender's own clock: time its loop could run, for the flights' send timeout.

In a tool server the sender's loop shares the GIL with the server's. An asyncio loop serving
calls back to back releases and retakes the GIL at every turn, so a thread waiting for it can
lose the race for seconds (measured on 2 cores: sender loop lag p99 0.5 to 0.9 s, up to 3.3 s,
beside a loopback broker answering in 0.5 ms). Counted in wall time, flights then outlived
``TOOLTRAIL_SEND_TIMEOUT_S`` on a healthy broker and half of a burst was spilled and resent.

While flights are in the air a timer ticks every ``TICK`` seconds on the sender's loop. A tick
(or a deadline check) that comes more than ``2 * TICK`` after the previous one means the loop
could not run meanwhile: that time is counted as starved and not against any flight. A broker
that stops answering still times a flight out after ``TOOLTRAIL_SEND_TIMEOUT_S``: the loop
itself runs then, and its ticks come on time. However starved the loop, a flight ends after
``WALL_CAP`` times its limit in wall time: what a killed process can lose from memory during a
stall stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

#: Seconds between ticks while flights are in the air.
TICK = 0.05
#: A deadline stretched by starvation still ends after this many times its limit (wall time).
WALL_CAP = 5


class SenderClock:
    """Loop time minus the time the loop could not run (see module docstring)."""

    def __init__(self) -> None:
        self.starved_s = 0.0  # total seconds the loop was late by more than a tick
        self._last = 0.0
        self._users = 0
        self._tick_handle: asyncio.TimerHandle | None = None

    def now(self) -> float:
        """The clock: loop time, less every starved second up to now."""
        self._catch_up()
        return asyncio.get_running_loop().time() - self.starved_s

    def _catch_up(self) -> None:
        now = asyncio.get_running_loop().time()
        gap = now - self._last
        if self._users and gap > 2 * TICK:
            self.starved_s += gap - TICK
        self._last = now

    def _tick(self) -> None:
        self._catch_up()
        loop = asyncio.get_running_loop()
        self._tick_handle = loop.call_at(self._last + TICK, self._tick) if self._users else None

    @contextlib.asynccontextmanager
    async def within(self, limit: float) -> AsyncIterator[None]:
        """Like ``asyncio.timeout(limit)``, counting only time the loop could run (at most
        ``WALL_CAP * limit`` of wall time)."""
        loop = asyncio.get_running_loop()
        if not self._users:
            self._last = loop.time()
        self._users += 1
        if self._tick_handle is None:
            self._tick_handle = loop.call_at(self._last + TICK, self._tick)
        deadline = self.now() + limit
        check: asyncio.TimerHandle | None = None
        try:
            async with asyncio.timeout(limit * WALL_CAP) as cm:

                def expire_or_wait() -> None:
                    nonlocal check
                    left = deadline - self.now()
                    if left <= 0:
                        cm.reschedule(loop.time())  # expires at once: TimeoutError in the body
                    else:
                        check = loop.call_later(left, expire_or_wait)

                check = loop.call_later(limit, expire_or_wait)
                yield
        finally:
            if check is not None:
                check.cancel()
            self._users -= 1
            if not self._users and self._tick_handle is not None:
                self._tick_handle.cancel()
                self._tick_handle = None
