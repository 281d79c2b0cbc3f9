"""``Lane``: where a sink's blocking calls (Chroma, embedding, fsync) run, one at a time.

``asyncio.to_thread`` would use the loop's default executor, whose threads the interpreter
joins at exit and ``asyncio.run`` waits for: one Chroma call hung on a dead socket would then
keep a stopped worker alive past its grace period. A lane is a single daemon thread fed by a
queue: calls run in order (a sink never writes twice at once, even after the runner gave up
waiting on a slow call), the awaiting coroutine can stop waiting at any time, and a process
that exits does not wait for a call still stuck in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class Lane:
    """One daemon thread that runs submitted calls in order (see module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.busy = False  # a call is running now (what a stuck sink looks like from outside)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` in the lane and return its result (or raise its exception).

        Cancelling the awaiting task stops the waiting, not the call: it finishes in the lane
        before the next one starts.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_thread()
        self._jobs.put((lambda: func(*args), loop, future))
        return await future

    def close(self) -> None:
        """Let the thread end after the calls already queued. Idempotent; never blocks."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._main, name=f"lane-{self.name}", daemon=True
                )
                self._thread.start()

    def _main(self) -> None:
        while (job := self._jobs.get()) is not None:
            func, loop, future = job
            self.busy = True
            try:
                result: Any = func()
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                _settle(loop, future, None, exc)
            else:
                _settle(loop, future, result, None)
            finally:
                self.busy = False


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    def apply() -> None:
        if future.done():  # the waiter was cancelled: nobody wants the outcome
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed: the process is stopping
        loop.call_soon_threadsafe(apply)
