"""``settle``: await a clean-up step without letting it end the caller.

Stopping an aiokafka client re-raises the cancellation of its own internal tasks: after a
broker restart ``AIOKafkaConsumer.stop()`` can end in ``CancelledError`` although nobody
cancelled the caller. ``contextlib.suppress(Exception)`` lets that through (it is a
``BaseException``) and it silently ended the worker's watcher task, so topics lost in the
restart were never created again. ``settle`` tells the two cancellations apart with
``Task.cancelling()``: the caller's own is raised, a stray one is returned like any error.

``stop_kafka`` stops an aiokafka client so that its connections are closed whatever ``stop()``
does. aiokafka's ``Fetcher.close`` awaits the fetch tasks it just cancelled and lets their
``CancelledError`` out when one had not started yet; ``stop()`` then ends before it closes its
connections, and marks the client closed, so calling it again does nothing. A stop that timed
out leaves them open the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
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


async def stop_kafka(client: Any) -> None:
    """``client.stop()`` (an aiokafka consumer or producer), then, if that did not end
    cleanly (an error, a stray cancellation, a timeout or cancellation of the caller), close
    the network client it holds, so that no connection is left open. Re-raises what ``stop()``
    raised; use it inside ``settle`` to bound and report it.
    """
    try:
        await client.stop()
    except BaseException:
        network = getattr(client, "_client", None) or getattr(client, "client", None)
        close = getattr(network, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
        raise
