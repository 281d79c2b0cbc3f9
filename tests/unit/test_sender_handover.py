"""The sender takes the GIL back promptly: a short switch interval while it waits, and only then.

``PromptSelector`` lowers the process's switch interval while the sender's loop waits and puts
the application's own value back as soon as the wait ends; several waiting senders share one
lowering (the shortest wins) and the last one out restores. A producer's sender uses it with
``TOOLTRAIL_SENDER_GIL_WAIT_US``; 0 leaves the interval alone.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.sender.handover import PromptSelector, interval_us, set_interval_us
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.kafka.memory import MemoryBroker

APP_US = 7_000  # not CPython's default, so that a restore to 5 ms would show


@pytest.fixture(autouse=True)
def app_interval() -> Iterator[None]:
    """The application's own switch interval for the test; CPython's default afterwards."""
    before = sys.getswitchinterval()
    set_interval_us(APP_US)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _seen(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def _waiting(selector: PromptSelector, seconds: float) -> threading.Thread:
    thread = threading.Thread(target=selector.select, args=(seconds,))
    thread.start()
    return thread


def test_the_interval_is_short_while_the_selector_waits_and_the_apps_again_after() -> None:
    selector = PromptSelector(100)
    try:
        thread = _waiting(selector, 0.5)
        assert _seen(lambda: interval_us() == 100, 1)
        thread.join()
        assert interval_us() == APP_US
    finally:
        selector.close()


def test_two_waiting_selectors_share_the_shortest_and_the_last_restores() -> None:
    slow, fast = PromptSelector(200), PromptSelector(100)
    try:
        first = _waiting(slow, 0.3)
        assert _seen(lambda: interval_us() == 200, 1)
        second = _waiting(fast, 0.9)
        assert _seen(lambda: interval_us() == 100, 1)
        first.join()
        assert second.is_alive()
        assert interval_us() == 100  # one still waits
        second.join()
        assert interval_us() == APP_US
    finally:
        slow.close()
        fast.close()


@pytest.mark.parametrize(("wait_us", "app_us"), [(0, APP_US), (100, 50)])
def test_off_or_an_app_interval_already_shorter_is_left_alone(wait_us: int, app_us: int) -> None:
    set_interval_us(app_us)
    selector = PromptSelector(wait_us)
    try:
        thread = _waiting(selector, 0.3)
        seen: set[int] = set()
        while thread.is_alive():
            seen.add(interval_us())
            time.sleep(0.005)
        assert seen == {app_us}
        assert interval_us() == app_us
    finally:
        selector.close()


@pytest.mark.parametrize("wait_us", [100, 0])
def test_a_producers_sender_waits_with_the_setting_and_restores_at_close(
    memory_kafka: MemoryBroker, tmp_path: Path, wait_us: int
) -> None:
    memory_kafka.create_topic("events", 1)
    producer = TrailProducer(
        kafka_bootstrap=f"memory://{memory_kafka.name}",
        events_topic="events",
        outbox_dir=tmp_path / "outbox",
        enable_presearch=False,
        sender_gil_wait_us=wait_us,
    ).start()
    try:
        short = _seen(lambda: interval_us() == wait_us, 2)
        assert short == (wait_us > 0)
    finally:
        producer.close(5)
    assert interval_us() == APP_US


def test_an_interval_the_app_sets_during_the_wait_is_kept() -> None:
    selector = PromptSelector(100)
    try:
        thread = _waiting(selector, 0.4)
        assert _seen(lambda: interval_us() == 100, 1)
        set_interval_us(3_000)  # the application's own decision, while the sender sleeps
        thread.join()
        assert interval_us() == 3_000
    finally:
        selector.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_child_forked_while_the_sender_waits_gets_the_apps_interval_back() -> None:
    selector = PromptSelector(100)
    try:
        thread = _waiting(selector, 0.5)
        assert _seen(lambda: interval_us() == 100, 1)
        pid = os.fork()
        if pid == 0:  # the child: no sender thread waits here
            os._exit(0 if interval_us() == APP_US else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert interval_us() == 100  # the parent's sender still waits
        thread.join()
        assert interval_us() == APP_US
    finally:
        selector.close()


def test_a_thousand_waits_leave_the_apps_interval_exactly_as_it_was() -> None:
    selector = PromptSelector(100)
    try:
        for _ in range(1000):
            selector.select(0)
    finally:
        selector.close()
    assert interval_us() == APP_US  # no microsecond lost per restore


@pytest.mark.parametrize("bad", [-1, 5_001])
def test_a_wait_out_of_bounds_fails_at_start_naming_the_setting(bad: int) -> None:
    with pytest.raises(ValidationError, match="sender_gil_wait_us"):
        ProducerSettings(sender_gil_wait_us=bad)
