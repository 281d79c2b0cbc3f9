"""The memory sink (``tooltrail-memory``): one bounded, embedded summary per event in Chroma.

Each event becomes a ``MemoryRecord``: a deterministic id (replays upsert, never duplicate),
a summary of at most 1.5 KB that leads with what matters (tool, outcome, error, object and
namespace — MiniLM only reads the first ~256 tokens), and scalar metadata keys (kind, domain,
environment, tool, severity, opType, outcome, sessionId, timestamp, ts, eventId). Building
records is a pure function of the event (a failure there is about that event); embedding and
upsert go through the ``MemoryStore`` in the sink's lane, where Chroma being unreachable,
slow or misconfigured is a ``RetriableSinkError`` (the runner pauses only this group).
"""

from __future__ import annotations

import logging

from tooltrail.consumers.lanes import Lane
from tooltrail.consumers.memory.embedders import HashingEF, MiniLMOnnxEF
from tooltrail.consumers.memory.records import embedding_text, to_memory
from tooltrail.consumers.memory.store import MemoryStore
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.base import Delivered
from tooltrail.schemas.records import MemoryRecord

log = logging.getLogger(__name__)
__all__ = ["MemorySink"]


class MemorySink:
    """Embeds and upserts memories into Chroma (see module docstring)."""

    name = "memory"

    def __init__(
        self,
        settings: WorkerSettings,
        embedder: MiniLMOnnxEF | HashingEF,
        names: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.store = MemoryStore(settings, embedder, names)
        self.lane = Lane("memory")

    async def start(self) -> None:
        """Connect and ensure every collection now; if Chroma is down, the first write retries."""
        await self.lane.run(self.store.warm)  # the model loads even while Chroma is down
        await self.lane.run(self.store.ensure)

    async def write(self, batch: list[Delivered]) -> None:
        """Embed and upsert the batch's memories (idempotent by deterministic id)."""
        if not self.settings.enable_vector_writes:
            return
        memories: dict[str, tuple[MemoryRecord, str]] = {}
        for item in batch:
            record = to_memory(item.event)
            memories[record.id] = (record, embedding_text(item.event))
        await self.lane.run(self._upsert, list(memories.values()))

    def _upsert(self, memories: list[tuple[MemoryRecord, str]]) -> None:
        if memories:
            vectors = self.store.embed([text for _, text in memories])
            self.store.upsert([record for record, _ in memories], vectors)

    async def reload(self) -> None:
        """Nothing to reload: Chroma is shared by every member."""

    async def close(self) -> None:
        """Close the Chroma client (in the lane, after any call still running there)."""
        try:
            await self.lane.run(self.store.close)
        finally:
            self.lane.close()
