"""What redacting one event (or one log record) may cost: characters scanned and CPU time.

A ``RedactionBudget`` is drawn from by every string the engine scans for one event. Past
either bound the engine fails closed, never slow: the rest of the value being redacted is
masked wholesale (``OVER_BUDGET``, or a cut marked ``…(+N chars over budget)``), every later
string of the event too, and the process-wide counters (``budget_stats``) move, so an
operator sees it in the producer's stats. The CPU clock is the calling thread's
(``time.thread_time_ns``): time spent waiting for the GIL or the CPU is not charged, but a
garbage collection the thread runs is. A result that must not depend on when it is computed
(a cache key, computed apart by the tool server and the enrich group) takes ``math.inf``:
no CPU clock, its sizes alone bound the work.
"""

from __future__ import annotations

import math
import threading
import time

OVER_BUDGET = "<redacted: over budget>"
#: A scan of this many characters or more starts the CPU clock (and checks it).
CLOCKED_CHARS = 1024


#: ``cpu_ns`` of a budget without a CPU clock (``max_cpu_ms`` = ``math.inf``).
UNCLOCKED = -1


def cpu_ns_of(max_cpu_ms: float) -> int:
    """The CPU time a budget of ``max_cpu_ms`` grants, in whole nanoseconds (0: none, also for
    a negative value; ``UNCLOCKED`` for ``math.inf`` only: the clock is never read)."""
    if max_cpu_ms == math.inf:
        return UNCLOCKED
    return 0 if max_cpu_ms <= 0 else int(max_cpu_ms * 1_000_000)


class RedactionBudget:
    """Characters left to scan and CPU time left for one event; not shared between threads.

    The CPU clock starts at the first scan that could cost something (a string of 1,024+
    characters, or one that a pass reads): what comes before is bounded by the node limits.
    """

    __slots__ = ("chars_left", "counted", "cpu_ns", "deadline_ns", "exhausted")

    def __init__(self, max_chars: int, max_cpu_ms: float) -> None:
        self.chars_left = max_chars
        self.cpu_ns = cpu_ns_of(max_cpu_ms)
        self.deadline_ns = 0
        self.exhausted = False
        self.counted = False

    def take(self, wanted: int) -> int:
        """Reserve up to ``wanted`` characters of scanning; returns how many were granted.

        Less than ``wanted`` means the budget just ran out: the caller scans what was granted
        and masks the rest; every later call gets nothing.
        """
        if self.exhausted:
            return 0
        if wanted <= self.chars_left and (wanted < CLOCKED_CHARS or not self._late()):
            self.chars_left -= wanted
            return wanted
        if self.chars_left == 0 or self._late():
            self._run_out()
            return 0
        granted, self.chars_left = self.chars_left, 0
        self._count()
        return granted

    def expired(self) -> bool:
        """True once the budget ran out or its CPU time is spent (checked between passes)."""
        if not self.exhausted and self._late():
            self._run_out()
        return self.exhausted

    def mask(self) -> str:
        """The marker of a value masked for lack of budget (counted)."""
        _COUNTS.add(masked=1)
        return OVER_BUDGET

    def _late(self) -> bool:
        if self.cpu_ns == UNCLOCKED:
            return False
        now = time.thread_time_ns()
        if not self.deadline_ns:
            self.deadline_ns = now + self.cpu_ns
        return now >= self.deadline_ns

    def _run_out(self) -> None:
        self.exhausted = True
        self._count()

    def _count(self) -> None:
        if not self.counted:
            self.counted = True
            _COUNTS.add(exhausted=1)


class _Counts:
    """Process-wide counters of budgets run out and values masked (a lock: both are rare)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exhausted = 0
        self.masked = 0

    def add(self, exhausted: int = 0, masked: int = 0) -> None:
        with self._lock:
            self.exhausted += exhausted
            self.masked += masked

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"over_budget": self.exhausted, "masked_over_budget": self.masked}


_COUNTS = _Counts()


def budget_stats() -> dict[str, int]:
    """``over_budget``: events and log records whose budget ran out; ``masked_over_budget``:
    values (strings, the rest of a container or of a string) masked because of it."""
    return _COUNTS.snapshot()
