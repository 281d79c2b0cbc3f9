"""``WarningThrottle``: repeated warnings logged once per interval, with the count held back."""

from __future__ import annotations

import logging
import threading

import pytest

from tooltrail.schemas.throttle import WarningThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> logging.Logger:
    caplog.set_level(logging.INFO, logger="tests.throttle")
    return logging.getLogger("tests.throttle")


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tests.throttle"]


def test_twenty_thousand_repeats_make_a_few_lines_with_the_count(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    throttle = WarningThrottle(log, interval=60.0, clock=clock)
    for i in range(20_000):
        clock.now = 100.0 + i * 0.01  # 200 s in all: four intervals
        throttle.warn("bad-entry", "ignoring a bad entry at offset %d", i)
    lines = _lines(caplog)
    assert len(lines) == 4
    assert lines[0] == "ignoring a bad entry at offset 0"
    assert "(and 5999 more like it in the last 60s)" in lines[1]
    assert throttle.total("bad-entry") == 20_000
    assert throttle.flush() == 20_000 - 4 - 3 * 5999
    assert "bad-entry: 1999 more warning(s) held back" in _lines(caplog)[-1]
    assert throttle.flush() == 0  # nothing twice


def test_kinds_are_throttled_apart_and_burst_lets_several_through(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = WarningThrottle(log, burst=2, clock=Clock())
    results = [throttle.warn(kind, kind) for kind in ["a", "b", "a", "b", "a", "b"]]
    assert results == [True, True, True, True, False, False]
    assert _lines(caplog) == ["a", "b", "a", "b"]
    repeats = [getattr(r, "repeats", None) for r in caplog.records]
    assert repeats == [None] * 4


def test_extra_reaches_the_record_and_held_count_is_a_field(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    throttle = WarningThrottle(log, interval=1.0, clock=clock)
    throttle.warn("k", "m", partition=3)
    throttle.warn("k", "m", partition=4)
    clock.now += 2
    throttle.warn("k", "m", partition=5)
    last = caplog.records[-1]
    assert (last.partition, last.repeats) == (5, 1)  # type: ignore[attr-defined]


def test_kinds_are_bounded_and_an_evicted_kind_is_summarised(
    log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = WarningThrottle(log, max_kinds=2, clock=Clock())
    for _ in range(3):
        throttle.warn("first", "first")
    throttle.warn("second", "second")
    throttle.warn("third", "third")  # evicts "first", which held two back
    assert "first: 2 more warning(s) held back" in _lines(caplog)
    assert len(throttle._kinds) == 2


def test_a_failing_handler_never_reaches_the_caller(log: logging.Logger) -> None:
    throttle = WarningThrottle(log, clock=Clock())
    assert throttle.warn("k", "%d needs a number", "not a number", message="clash") is True
    assert throttle.total("k") == 1


def test_threads_count_every_occurrence(log: logging.Logger) -> None:
    throttle = WarningThrottle(log)

    def hammer() -> None:
        for _ in range(2_000):
            throttle.warn("k", "m")

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert throttle.total("k") == 8_000
    assert throttle.flush() == 7_999
