"""The flights' clock: time the sender's loop could not run is not counted against a flight,
and a loop that runs still times a silent broker out."""

from __future__ import annotations

import asyncio
import time

import pytest

from tooltrail.producer.sender.clock import TICK, WALL_CAP, SenderClock


async def test_a_loop_blocked_past_the_limit_does_not_time_the_body_out() -> None:
    clock = SenderClock()
    async with clock.within(0.3):
        time.sleep(1.0)  # the loop cannot run: as when another thread holds the GIL
        await asyncio.sleep(0.05)  # the answer comes right after the loop runs again
    assert clock.starved_s >= 0.8


async def test_a_running_loop_times_a_body_out_after_the_limit() -> None:
    clock = SenderClock()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(TimeoutError):
        async with clock.within(0.3):
            await asyncio.Event().wait()  # a broker that never answers
    assert loop.time() - t0 >= 0.3
    assert clock.starved_s < 0.3  # every tick came on time


async def _stall_then_silence(clock: SenderClock) -> None:
    async with clock.within(0.3):
        time.sleep(0.6)  # not counted
        await asyncio.Event().wait()  # then nothing answers: times out on the loop's time


async def test_after_a_stall_the_rest_of_the_limit_still_counts() -> None:
    clock = SenderClock()
    with pytest.raises(TimeoutError):
        await _stall_then_silence(clock)
    assert clock.starved_s >= 0.5


async def test_concurrent_deadlines_share_the_ticks_and_stop_them_when_done() -> None:
    clock = SenderClock()

    async def flight(wait: float) -> bool:
        try:
            async with clock.within(0.2):
                await asyncio.sleep(wait)
        except TimeoutError:
            return False
        return True

    assert await asyncio.gather(flight(0.01), flight(1.0), flight(0.05)) == [True, False, True]
    assert clock._tick_handle is None  # no flight in the air: no timer wakes the loop
    assert clock._users == 0


def test_the_tick_is_short_against_any_send_timeout() -> None:
    from tooltrail.producer.settings import ProducerSettings

    assert ProducerSettings().send_timeout_s > 2 * TICK


async def _starved_past_the_cap(clock: SenderClock, limit: float) -> None:
    async with clock.within(limit):
        time.sleep(limit * WALL_CAP + 0.1)  # starved throughout, and longer than the cap
        await asyncio.sleep(0.05)


async def test_however_starved_a_deadline_ends_after_the_wall_cap() -> None:
    clock = SenderClock()
    with pytest.raises(TimeoutError):
        await _starved_past_the_cap(clock, 0.1)
