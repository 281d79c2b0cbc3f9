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
out leaves them open the same way. Closing the connections is not enough then: the client's
background tasks that ``stop()`` did not reach (the fetch tasks ``Fetcher.close`` never
cancelled, the fetch loop, the coordinator's heartbeat and coordination tasks, the sender) go
on and open new connections (a fetch, a coordinator lookup, a metadata refresh) after the
close, and a long-running worker keeps them, and its heartbeats, until it exits. So
``stop_kafka`` cancels those tasks and waits for them before it closes the connections.
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
    cleanly (an error, a stray cancellation, a timeout or cancellation of the caller), end the
    background tasks it holds and close the network client, so that no connection is left
    open or opened again. Re-raises what ``stop()`` raised; use it inside ``settle`` to bound
    and report it.
    """
    try:
        await client.stop()
    except BaseException:
        network = getattr(client, "_client", None) or getattr(client, "client", None)
        tasks = _background_tasks(client, network)
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a task that ignores its cancellation must not hang the caller
            await asyncio.wait(tasks, timeout=_ABORT_WAIT_S)
        close = getattr(network, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
        raise


#: How long ``stop_kafka`` waits for the background tasks it cancelled (they end at once).
_ABORT_WAIT_S = 2.0
#: Where aiokafka keeps the parts that run background tasks: a consumer's coordinator and
#: fetcher, a producer's sender (the network client's own task is ended by its ``close``).
_PARTS = ("_coordinator", "_fetcher", "_sender")


def _background_tasks(client: Any, network: Any) -> list[asyncio.Task[Any]]:
    """The unfinished tasks held by ``client`` and its parts: attributes that are a task or a
    collection of tasks (``Fetcher._pending_tasks``). Found by type, not by name, so that
    another aiokafka version's tasks are found too."""
    parts = [client, network, *(getattr(client, name, None) for name in _PARTS)]
    found: list[asyncio.Task[Any]] = []
    for part in parts:
        for value in list(getattr(part, "__dict__", {}).values()):
            if isinstance(value, asyncio.Task):
                found.append(value)
            elif isinstance(value, (set, frozenset, list, tuple)):
                found.extend(v for v in list(value) if isinstance(v, asyncio.Task))
    current = asyncio.current_task()
    return [t for t in dict.fromkeys(found) if not t.done() and t is not current]
