"""A repeated warning is logged at most once per interval, with how many were held back."""

from __future__ import annotations

import logging

import pytest

from tooltrail.schemas.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_interval_each_counting_the_ones_held(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    throttle = Throttle(logging.getLogger("t"), "sink down", 60.0, clock)
    with caplog.at_level(logging.WARNING, logger="t"):
        assert throttle.warning("sink down", extra={"group": "g"})
        for _ in range(999):
            clock.now += 0.05
            throttle.warning("sink down")
        clock.now = 61.0
        assert throttle.warning("sink down")
        throttle.warning("sink down")
        throttle.flush()
        throttle.flush()  # nothing more held: nothing logged
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "sink down",
        "sink down (999 more like it since the last one)",
        "sink down: 1 more since the last report",
    ]
    assert caplog.records[0].group == "g"  # type: ignore[attr-defined]
    assert caplog.records[1].repeated == 999  # type: ignore[attr-defined]
    assert throttle.total == 1002


def test_error_level_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    throttle = Throttle(logging.getLogger("t2"), "loop failed", 1.0, Clock())
    with caplog.at_level(logging.WARNING, logger="t2"):
        throttle.error("loop failed")
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
