"""Taking the GIL back promptly: the sender's selector lowers the switch interval while it waits.

A thread that wants the GIL back after a system call waits up to the interpreter's switch
interval (5 ms by default) before it asks the holder to let go, and every release by the
holder in the meantime wakes it and starts that wait again. A tool server's loop, serving
calls back to back, releases the GIL at every ``select(0)``: the sender is woken again and
again, loses each race, and each of those futile wake-ups costs the serving thread a
``futex`` call (README, "Fewer wake-ups"). The sender's every return from a wait (a linger
that ended, a broker's answer, a write) is such a wait for the GIL.

``PromptSelector`` is the default selector of the sender's loop with one change: while it
waits, the process's switch interval is ``TOOLTRAIL_SENDER_GIL_WAIT_US`` (100 µs by default)
instead of the application's own, so that the sender asks for the GIL after that long instead
of spinning through wake-ups; the application's value is restored as soon as the sender has
the GIL again. While the sender runs, the application's value is in force. While the sender
sleeps, two other threads contending for the GIL hand it over after that long too (fairer to
the waiting one, more switches for the working one); ``0`` turns this off. An interval the
application sets while a sender waits is kept (the sender restores only the value it set).
"""

from __future__ import annotations

import os
import selectors
import sys
import threading
from typing import Any

_lock = threading.Lock()
_waiting = 0  # sender selectors inside select()
_app_us = 0  # the interval the first of them found (the application's own), in µs
_set_us = 0  # the interval they set (0: none set)


def interval_us() -> int:
    """The switch interval in µs (CPython keeps whole microseconds)."""
    return round(sys.getswitchinterval() * 1_000_000)


def set_interval_us(us: int) -> None:
    """Set the switch interval to exactly ``us`` µs (CPython truncates ``interval * 1e6``: a
    value read back and written again as it is would lose a microsecond each time)."""
    sys.setswitchinterval((us + 0.5) / 1_000_000)


def _enter(wait_us: int) -> None:
    """One more waiter: the first records the application's interval; the shortest wins."""
    global _waiting, _app_us, _set_us
    with _lock:
        if _waiting == 0:
            _app_us, _set_us = interval_us(), 0
        _waiting += 1
        if wait_us < interval_us():
            set_interval_us(wait_us)
            _set_us = wait_us


def _restore() -> None:
    """Put the application's interval back, unless it set one of its own meanwhile (then that
    one stays): only the value the waiters set is undone."""
    if _set_us and interval_us() == _set_us:
        set_interval_us(_app_us)


def _leave() -> None:
    """One waiter fewer: the last one restores the application's interval."""
    global _waiting
    with _lock:
        _waiting -= 1
        if _waiting == 0:
            _restore()


def _after_fork_in_child() -> None:
    """A child forked while a sender waited has no sender: its waits are over."""
    global _waiting, _lock
    _lock = threading.Lock()
    if _waiting:
        _waiting = 0
        _restore()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


class PromptSelector(selectors.DefaultSelector):
    """The platform's default selector; waits with a short switch interval (module docstring)."""

    def __init__(self, wait_us: int) -> None:
        super().__init__()
        self._wait_us = wait_us

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        """``select`` of the default selector, the switch interval lowered while it waits."""
        if self._wait_us <= 0:
            return super().select(timeout)
        _enter(self._wait_us)
        try:
            return super().select(timeout)
        finally:
            _leave()
