"""The memory sink (``tooltrail-memory``): one consolidated memory per situation in Chroma.

Each event is an occurrence of a situation (``memory.situations``: scope, tool, outcome and
the normalized signature of its salient line). Per batch, events are grouped by situation,
the situations already stored are read back with one ``get`` by ids, each is merged with its
new occurrences (``memory.consolidate``: counts, first/last seen, recent event ids, sessions;
a redelivered event changes nothing), and all are upserted at once. Only a situation that is
new, or whose embedding text changed, is embedded: the stored vector is reused otherwise, so
embedding work and stored memories grow with novelty, not with traffic.

Building situations is a pure function of each event (a failure there is about that event);
Chroma being unreachable, slow or misconfigured is a ``RetriableSinkError`` (the runner
pauses only this group). Retention (``memory.retention``) is swept from here between batches.
Besides each situation's own window of recent event ids, the sink remembers the ids of the
newest ``TOOLTRAIL_MEMORY_DEDUP_WINDOW`` events it merged (in memory, for the process's life),
so a redelivery of an older event is not counted again either.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable

from tooltrail.consumers.lanes import Lane
from tooltrail.consumers.memory.consolidate import Merged, merge
from tooltrail.consumers.memory.embedders import HashingEF, MiniLMOnnxEF
from tooltrail.consumers.memory.retention import SweepResult, sweep
from tooltrail.consumers.memory.situations import SituationRecord, situation_of
from tooltrail.consumers.memory.store import MemoryStore
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.base import Delivered

log = logging.getLogger(__name__)
__all__ = ["MemorySink", "consolidate_into"]


def consolidate_into(store: MemoryStore, occurrences: list[SituationRecord]) -> list[Merged]:
    """Merge ``occurrences`` into the stored situations and upsert them (blocking).

    One ``get`` per collection, one embedding call for the new situations, one upsert per
    collection. Returns what was written (the benchmarks count embeddings from it).
    """
    if not occurrences:
        return []
    store.ensure()
    groups: dict[str, list[SituationRecord]] = defaultdict(list)
    for rec in occurrences:
        groups[rec.id].append(rec)
    stored = store.get_many(sorted(groups))
    merged = []
    for sid in sorted(groups):
        old = stored.get(sid)
        merged.append(
            merge(old.metadata if old else None, old.document if old else "", groups[sid])
        )
    fresh = [m for m in merged if m.embed]
    vectors = dict(
        zip((m.id for m in fresh), store.embed([m.embedding_text for m in fresh]), strict=True)
    )
    rows: dict[str, list[tuple[str, object, str, dict[str, object]]]] = defaultdict(list)
    for m in merged:
        old = stored.get(m.id)
        name = old.collection if old else store.names[str(m.metadata["kind"])]
        vector = vectors[m.id] if m.embed or old is None else old.vector
        rows[name].append((m.id, vector, m.document, dict(m.metadata)))
    for name, items in rows.items():
        store.put(name, items)
    return merged


class MemorySink:
    """Consolidates events into situations in Chroma (see module docstring)."""

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
        self.embedded_total = 0
        self.occurrences_total = 0
        self.scopes: set[tuple[str, str]] = set()
        self._seen: dict[str, None] = {}  # insertion-ordered: the oldest id goes first
        self._next_sweep = time.monotonic() + settings.memory_sweep_interval_s

    async def start(self) -> None:
        """Connect and ensure every collection now; if Chroma is down, the first write retries."""
        await self.lane.run(self.store.warm)  # the model loads even while Chroma is down
        await self.lane.run(self.store.ensure)

    async def write(self, batch: list[Delivered]) -> None:
        """Merge the batch into its situations and upsert them (idempotent per event id)."""
        if not self.settings.enable_vector_writes:
            return
        fresh = [i for i in batch if i.event.event_id not in self._seen]
        occurrences = [situation_of(item.event) for item in fresh]
        merged = await self.lane.run(consolidate_into, self.store, occurrences)
        self._remember(item.event.event_id for item in fresh)
        self.embedded_total += sum(m.embed for m in merged)
        self.occurrences_total += len(occurrences)
        self.scopes.update((i.event.tags.environment, i.event.tags.domain) for i in fresh)
        if time.monotonic() >= self._next_sweep:
            await self.sweep()

    def _remember(self, event_ids: Iterable[str]) -> None:
        """Ids of events already merged, newest ``memory_dedup_window`` (after the write)."""
        for event_id in event_ids:
            if event_id not in self._seen:
                self._seen[event_id] = None
        while len(self._seen) > self.settings.memory_dedup_window:
            del self._seen[next(iter(self._seen))]

    async def sweep(self) -> SweepResult:
        """Retention and per-scope cap now (bounded work); the next one an interval later."""
        s = self.settings
        self._next_sweep = time.monotonic() + s.memory_sweep_interval_s
        now = int(time.time() * 1000)
        return await self.lane.run(
            sweep,
            self.store,
            now,
            s.memory_retention_days,
            s.memory_max_situations_per_scope,
            set(self.scopes),
        )

    @property
    def store_resets(self) -> int:
        """Times the store was found wiped or recreated under this sink (read by the runner)."""
        return self.store.store_resets

    @property
    def store_reset_at(self) -> str | None:
        """When the last reset was detected (ISO time, the collection's ``resetDetectedAt``)."""
        return self.store.store_reset_at

    async def reload(self) -> None:
        """Nothing to reload: Chroma is shared by every member."""

    async def close(self) -> None:
        """Close the Chroma client (in the lane, after any call still running there)."""
        try:
            await self.lane.run(self.store.close)
        finally:
            self.lane.close()
