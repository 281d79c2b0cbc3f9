"""A repeated failure does not flood the log; chatty libraries are quiet."""

from __future__ import annotations

import logging

from tooltrail.consumers.app.log_limits import RepeatLimiter, quiet_libraries


def _record(msg: str, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("x",), None)


def test_repeats_beyond_the_burst_are_held_and_counted() -> None:
    clock = [100.0]
    limiter = RepeatLimiter(burst=3, interval=60, clock=lambda: clock[0])
    passed = [limiter.filter(_record("Topic %s not found")) for _ in range(1000)]
    assert passed.count(True) == 3
    assert limiter.filter(_record("another message %s"))  # other templates are separate
    clock[0] += 61
    record = _record("Topic %s not found")
    assert limiter.filter(record)
    assert record.getMessage() == "Topic x not found (and 997 more like it before this)"


def test_chatty_libraries_are_quiet_unless_debug() -> None:
    for name in ("httpx", "chromadb"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    quiet_libraries("DEBUG")
    assert logging.getLogger("httpx").level == logging.NOTSET
    quiet_libraries("INFO")
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("chromadb").level == logging.WARNING
