"""``Pacer``: the sender hands the GIL to tool-server threads while it works through a batch.

Apart from the sender's tasks because it is pure timing (no Kafka, no outbox): the resend
side uses it on outbox records, and its tests run it on a plain thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tooltrail.producer.accumulator import Accumulator

T = TypeVar("T")


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
