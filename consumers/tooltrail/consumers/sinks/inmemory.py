"""``InMemorySink``: a sink double for tests, shipped with the package (like OTel's exporter).

It keeps what it was given by event id, and can be told to reject some events (the whole
write fails with ``SinkError``, as a real store refusing one record does), to be
unavailable for the next N writes (``RetriableSinkError``), or to hang until released.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tooltrail.consumers.errors import RetriableSinkError, SinkError
from tooltrail.consumers.sinks.base import Delivered
from tooltrail.schemas.events import ToolExecutionEvent


class InMemorySink:
    """Writes into a dict (see module docstring)."""

    def __init__(
        self, name: str = "inmemory", reject: Callable[[ToolExecutionEvent], bool] | None = None
    ) -> None:
        self.name = name
        self.reject = reject
        self.written: dict[str, ToolExecutionEvent] = {}
        self.writes = 0
        self.unavailable = 0  # the next N writes raise RetriableSinkError
        self.hang: asyncio.Event | None = None  # set: writes wait until it is set
        self.started = self.closed = False

    async def start(self) -> None:
        """Mark started."""
        self.started = True

    async def write(self, batch: list[Delivered]) -> None:
        """Keep the batch, or fail as configured."""
        self.writes += 1
        if self.hang is not None:
            await self.hang.wait()
        if self.unavailable > 0:
            self.unavailable -= 1
            raise RetriableSinkError("in-memory sink unavailable")
        bad = [d.event.event_id for d in batch if self.reject is not None and self.reject(d.event)]
        if bad:
            raise SinkError(f"refused event {bad[0]}")
        self.written.update((d.event.event_id, d.event) for d in batch)

    async def reload(self) -> None:
        """Nothing to reload."""

    async def close(self) -> None:
        """Mark closed."""
        self.closed = True
