"""``Accumulator``: where ``emit`` leaves a call's finished record; all ``emit`` touches.

A ``deque`` (its ``append`` and ``popleft`` are atomic, so no lock is shared with the sender),
a capacity, and a wake-up for a sender that went to sleep. ``put`` does no I/O and never
blocks: when the accumulator is full or closed it returns False and the caller counts the
call dropped (the OpenTelemetry batch processor's policy). The capacity is a soft bound:
threads racing on the last free slot may overshoot it by one item each.

The sender drains it every ``TOOLTRAIL_LINGER_MS`` while calls flow and sleeps when they
stop. Two puts pay for a wake-up (a write to the sender loop's self-pipe, a few
microseconds): one into a sleeping sender (the sender then waits one linger before
draining, so that others gather behind it), and the one that brings ``wake_at`` records
(``TOOLTRAIL_BATCH_SIZE``: a full batch waits, however long the linger) once per drain.
Steady traffic costs no system call per call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Accumulator(Generic[T]):
    """Bounded hand-off from any thread to the sender thread (see module docstring)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.closed = False
        self.asleep = False  # set by the sender before it waits for a wake-up
        self.wake_at = capacity + 1  # this many waiting records wake the sender (once per drain)
        self.nudged = False  # that wake-up was given since the sender last drained
        self.waker: Callable[[], None] | None = None
        self._items: deque[T] = deque()

    def put(self, item: T) -> bool:
        """Keep ``item`` for the sender; False if full or closed (nothing else happens)."""
        items = self._items
        if self.closed or len(items) >= self.capacity:
            return False
        items.append(item)
        if self.asleep or (len(items) >= self.wake_at and not self.nudged):
            self.asleep = False
            self.nudged = True
            waker = self.waker
            if waker is not None:
                waker()
        return True

    def drain(self, limit: int) -> list[T]:
        """Remove and return up to ``limit`` items, oldest first (the sender thread only)."""
        items, out = self._items, []
        popleft = items.popleft
        for _ in range(min(limit, len(items))):
            out.append(popleft())
        return out

    def __len__(self) -> int:
        return len(self._items)
