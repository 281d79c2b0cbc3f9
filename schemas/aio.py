"""``settle``: await a clean-up step without letting it end the caller.

Stopping an aiokafka client re-raises the cancellation of its own internal tasks: after a
broker restart ``AIOKafkaConsumer.stop()`` can end in ``CancelledError`` although nobody
cancelled the caller. ``contextlib.suppress(Exception)`` lets that through (it is a
``BaseException``) and it silently ended the worker's watcher task, so topics lost in the
restart were never created again. ``settle`` tells the two cancellations apart with
``Task.cancelling()``: the caller's own is raised, a stray one is returned like any error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


def cancelled_here() -> bool:
    """True when the running task itself is being cancelled (by its owner or a timeout)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def settle(step: Awaitable[Any], limit_s: float) -> BaseException | None:
    """Await ``step`` for at most ``limit_s`` seconds; return what it raised, if anything.

    Raises:
        CancelledError: only when the calling task is cancelled.
    """
    try:
        await asyncio.wait_for(step, limit_s)
    except asyncio.CancelledError as exc:
        if cancelled_here():
            raise
        return exc
    except Exception as exc:  # noqa: BLE001 - a clean-up step reports, never raises
        return exc
    return None
