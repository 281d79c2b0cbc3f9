"""The sink contract: what a consumer group writes to.

A sink is idempotent per event id (the runner delivers at least once). ``write`` either
returns having written the whole batch durably, or raises:

* ``RetriableSinkError`` (or a timeout): the destination is unavailable and nothing is wrong
  with the events; the runner pauses, retries the same batch and commits nothing past it;
* anything else: some event(s) of the batch cannot be written; the runner splits the batch
  to find them, dead-letters them with the reason and writes the rest.

So a sink must turn every failure of its destination (connection refused, timeouts, server
errors, authorisation) into ``RetriableSinkError``, and let only event-specific problems
escape as other exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from tooltrail.schemas.events import ToolExecutionEvent


@dataclass(frozen=True, slots=True)
class Delivered:
    """One decoded event and where it came from."""

    event: ToolExecutionEvent
    partition: int
    offset: int


@runtime_checkable
class Sink(Protocol):
    """What a consumer group writes to (see module docstring)."""

    name: str

    async def start(self) -> None:
        """Open files or clients; called once before the first batch (may fail: retried)."""

    async def write(self, batch: list[Delivered]) -> None:
        """Durably write the batch or raise (see module docstring)."""

    async def reload(self) -> None:
        """After a rebalance: pick up what other members wrote (a no-op for most sinks)."""

    async def close(self) -> None:
        """Release resources; called once at stop."""
