"""``WarningThrottle``: a warning that repeats is logged once per interval, with a count.

A bad record, a full disk or a broker that is down repeats the same warning thousands of
times a second; one line per occurrence buries everything else (20,000 lines for 20,000
bad cache entries). ``warn(kind, …)`` logs the first ``burst`` occurrences of each *kind*
per ``interval`` and holds the rest back; the next line let through for that kind says how
many were held (``and N more like it in the last Ts``), and ``flush()`` (call it at close)
logs one summary line for every kind still holding some. Nothing is lost from the counts:
``total(kind)`` is every occurrence, logged or not, for a metric (of the newest
``4 * max_kinds`` kinds).

Thread-safe (the producer's sender thread and tool threads may share one); never raises;
memory is bounded by ``max_kinds`` (the oldest kind is summarised and forgotten first).
Lives in ``tooltrail.schemas`` so the producer, the workers and the CLI can all use it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["WarningThrottle"]


@dataclass(slots=True)
class _Window:
    started: float  # when the current interval of this kind began (clock time)
    logged: int = 0  # lines let through in this interval
    held: int = 0  # occurrences held back since the last line that was let through
    last_line: float = 0.0  # when the last line of this kind was let through


class WarningThrottle:
    """Throttle-and-summarise for one logger's repeated warnings (see module docstring)."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 1,
        interval: float = 60.0,
        level: int = logging.WARNING,
        max_kinds: int = 1_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.burst = max(burst, 1)
        self.interval = interval
        self.level = level
        self.max_kinds = max(max_kinds, 1)
        self.clock = clock
        self._kinds: dict[str, _Window] = {}
        self._totals: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, kind: str, message: str, /, *args: Any, **extra: Any) -> bool:
        """Log ``message % args`` unless ``kind`` already used its burst in this interval.

        ``extra`` goes to the log record (JSON logs show it). True if the line was logged.
        """
        now = self.clock()
        with self._lock:
            window, evicted = self._window(kind, now)
            self._totals[kind] = self._totals.get(kind, 0) + 1
            if window.logged >= self.burst:
                window.held += 1
                logged = False
            else:
                window.logged += 1
                held, window.held = window.held, 0
                since, window.last_line = now - window.last_line, now
                logged = True
        if evicted is not None:
            self._summary(*evicted)
        if logged:
            self._emit(message, args, extra, held, since)
        return logged

    def total(self, kind: str) -> int:
        """Every occurrence of ``kind`` so far, logged or held back."""
        with self._lock:
            return self._totals.get(kind, 0)

    def flush(self) -> int:
        """Log one summary line per kind with occurrences held back; return how many."""
        with self._lock:
            pending = [(k, w.held) for k, w in self._kinds.items() if w.held]
            for window in self._kinds.values():
                window.held = 0
        for kind, held in pending:
            self._summary(kind, held)
        return sum(held for _, held in pending)

    def _window(self, kind: str, now: float) -> tuple[_Window, tuple[str, int] | None]:
        """The window of ``kind`` (new, or restarted if its interval ended), and the kind
        evicted to make room with what it held back, if any."""
        window, evicted = self._kinds.get(kind), None
        if window is None:
            if len(self._kinds) >= self.max_kinds:
                oldest, gone = next(iter(self._kinds.items()))
                del self._kinds[oldest]
                evicted = (oldest, gone.held) if gone.held else None
            window = self._kinds[kind] = _Window(now, last_line=now)
            if kind not in self._totals and len(self._totals) >= 4 * self.max_kinds:
                del self._totals[next(iter(self._totals))]  # bounded, oldest kind first
        elif now - window.started >= self.interval:
            window.started, window.logged = now, 0
        return window, evicted

    def _emit(
        self, message: str, args: tuple[Any, ...], extra: dict[str, Any], held: int, span: float
    ) -> None:
        if held:
            message = f"{message} (and {held} more like it in the last {span:.0f}s)"
            extra = {**extra, "repeats": held}
        with contextlib.suppress(Exception):  # a log line must never cost the caller
            self.logger.log(self.level, message, *args, extra=extra)

    def _summary(self, kind: str, held: int) -> None:
        with contextlib.suppress(Exception):  # a log line must never cost the caller
            self.logger.log(
                self.level,
                "%s: %d more warning(s) held back",
                kind,
                held,
                extra={"kind": kind, "repeats": held},
            )
