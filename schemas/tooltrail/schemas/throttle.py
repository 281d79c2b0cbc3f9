"""``Throttle``: one repeated warning, logged at most once per interval, with a count.

A condition that repeats (a sink down, Kafka away, a poison record per fetch) would log a
line per attempt; a ``Throttle`` lets the first through at once, then at most one per
``interval_s``, each saying how many like it were held back since (``repeated``), and
``flush`` logs what is still held (call it when the component stops). Thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any


class Throttle:
    """A rate-limited, summarised log line (see module docstring)."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.what = what
        self.interval_s = interval_s
        self.clock = clock
        self.total = 0  # every occurrence, logged or held
        self._held = 0
        self._last: float | None = None
        self._lock = threading.Lock()

    def warning(self, msg: str, *args: Any, extra: dict[str, Any] | None = None) -> bool:
        """Log ``msg`` at WARNING unless one went out within the interval; True if logged."""
        return self.log(logging.WARNING, msg, *args, extra=extra)

    def error(self, msg: str, *args: Any, extra: dict[str, Any] | None = None) -> bool:
        """Log ``msg`` at ERROR unless one went out within the interval; True if logged."""
        return self.log(logging.ERROR, msg, *args, extra=extra)

    def log(self, level: int, msg: str, *args: Any, extra: dict[str, Any] | None = None) -> bool:
        """Log ``msg`` at ``level``, throttled (see module docstring)."""
        now = self.clock()
        with self._lock:
            self.total += 1
            if self._last is not None and now - self._last < self.interval_s:
                self._held += 1
                return False
            held, self._held, self._last = self._held, 0, now
        fields = dict(extra or {})
        if held:
            fields["repeated"] = held
            msg = f"{msg} ({held} more like it since the last one)"
        self.logger.log(level, msg, *args, extra=fields)
        return True

    def flush(self) -> None:
        """Log how many are held back since the last line, if any."""
        with self._lock:
            held, self._held = self._held, 0
        if held:
            self.logger.warning(
                "%s: %d more since the last report", self.what, held, extra={"repeated": held}
            )
