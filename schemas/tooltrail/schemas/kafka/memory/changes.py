"""``Changes``: a "something changed" signal that coroutines of any loop or thread can await.

The in-memory broker is shared by every client of a process, and a tool server's producer
runs its own loop in its own thread: asyncio primitives, bound to one loop, cannot carry
its notifications. Waiters register a future of their own loop; ``notify`` wakes each of
them through that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class Changes:
    """A version counter with waiters (see module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def version(self) -> int:
        """Bumped by every ``notify``; read it before checking what you wait for."""
        return self._version

    def notify(self) -> None:
        """Wake every waiter (thread-safe, never blocks)."""
        with self._lock:
            self._version += 1
            waiters, self._waiters = self._waiters, []
        for fut in waiters:
            _wake(fut)

    async def wait(self, since: int, timeout: float) -> None:  # noqa: ASYNC109
        """Return once the version differs from ``since``, or after ``timeout`` seconds."""
        if timeout <= 0:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._version != since:
                return
            self._waiters.append(fut)
        try:
            await asyncio.wait({fut}, timeout=timeout)
        finally:
            if not fut.done():
                fut.cancel()
            with self._lock:
                if fut in self._waiters:
                    self._waiters.remove(fut)


def _wake(fut: asyncio.Future[None]) -> None:
    loop = fut.get_loop()

    def done() -> None:
        if not fut.done():
            fut.set_result(None)

    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
        loop.call_soon_threadsafe(done)
