"""Keeping logs readable while something is down.

Libraries log every failed attempt (aiokafka logged 452,729 "Topic … not found in cluster
metadata" lines in one minute while a broker was restarting); ``RepeatLimiter`` lets the
first few records of each message template through per interval and folds the rest into a
count carried by the next one let through. ``quiet_libraries`` puts the chattiest loggers at
WARNING unless the user asked for DEBUG.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

CHATTY = ("aiokafka", "httpx", "httpcore", "chromadb", "mcp", "fastmcp", "urllib3")


class RepeatLimiter(logging.Filter):
    """At most ``burst`` records per (logger, message template) every ``interval`` seconds."""

    def __init__(
        self, burst: int = 3, interval: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst, self.interval, self.clock = burst, interval, clock
        self._seen: dict[tuple[str, str], list[float]] = {}  # key -> [window start, count, held]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """True to let ``record`` through (possibly noting how many were held back)."""
        key = (record.name, str(record.msg))
        now = self.clock()
        with self._lock:
            window = self._seen.get(key)
            if window is None or now - window[0] >= self.interval:
                held = int(window[2]) if window else 0
                self._seen[key] = [now, 1, 0]
                if len(self._seen) > 10_000:  # templates are few; guard against unbounded keys
                    self._seen.clear()
                if held:
                    record.msg = f"{record.msg} (and {held} more like it before this)"
                return True
            window[1] += 1
            if window[1] <= self.burst:
                return True
            window[2] += 1
            return False


def quiet_libraries(level: str) -> None:
    """Chatty libraries log at WARNING and above unless ``level`` is DEBUG."""
    if level.upper() == "DEBUG":
        return
    for name in CHATTY:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.level, logging.WARNING))


def limit_repeats(limiter: RepeatLimiter | None = None) -> RepeatLimiter:
    """Install one limiter on every handler of the root logger; return it."""
    limiter = limiter or RepeatLimiter()
    for handler in logging.getLogger().handlers:
        if limiter not in handler.filters:
            handler.addFilter(limiter)
    return limiter
