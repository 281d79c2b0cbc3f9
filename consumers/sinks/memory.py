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
import re

from consumers.blocking import Lane
from consumers.embedders import HashingEF, MiniLMOnnxEF
from consumers.memory_store import KINDS, EmbedderMismatchError, MemoryStore, collection_names
from consumers.settings import WorkerSettings
from consumers.sinks.base import Delivered
from schemas.base import MAX_SUMMARY_BYTES, clip_utf8, iso_ms_z
from schemas.events import Outcome, ToolExecutionEvent
from schemas.ids import memory_id
from schemas.records import MemoryRecord

log = logging.getLogger(__name__)
_SALIENT_ARGS = ("namespace", "pod", "name", "deployment", "node", "selector", "resource")
__all__ = ["KINDS", "EmbedderMismatchError", "MemorySink", "collection_names",
           "embedding_text", "summarize", "to_memory"]  # fmt: skip


def kind_of(event: ToolExecutionEvent) -> str:
    """``incident`` if tied to an incident, ``failure`` if the call failed, else ``tool_exec``."""
    if event.incident_id:
        return "incident"
    return "tool_exec" if event.outcome == Outcome.OK else "failure"


def _salient_parts(event: ToolExecutionEvent) -> list[str]:
    head = f"{event.tool_id} {event.outcome.value}"
    if event.error_summary:
        head += f": {event.error_summary}"
    scalars = {k: v for k, v in event.args.items() if isinstance(v, str | int | float | bool)}
    ordered = [k for k in _SALIENT_ARGS if k in scalars] + sorted(
        k for k in scalars if k not in _SALIENT_ARGS
    )
    parts = [head]
    if ordered:
        parts.append(" ".join(f"{k}={scalars[k]}" for k in ordered[:10]))
    if event.result_summary:
        parts.append(event.result_summary)
    return parts


def summarize(event: ToolExecutionEvent) -> str:
    """The ≤ 1.5 KB memory text, most salient first."""
    parts = _salient_parts(event)
    parts.append(f"[{event.op_type.value}; {event.elapsed_ms:.0f} ms; session {event.session_id}; "
                 f"{iso_ms_z(event.ended_at)}]")  # fmt: skip
    return clip_utf8("\n".join(parts), MAX_SUMMARY_BYTES)


#: What carries no meaning for retrieval but costs MiniLM tokens: clock times and dates,
#: UUIDs, long hexadecimal ids (digest, commit, container id).
_NOISE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
    r"|\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
    r"|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}\b",
    re.IGNORECASE,
)
_BLANKS = re.compile(r"[ \t]+")


def embedding_text(event: ToolExecutionEvent) -> str:
    """The text the memory and enrich groups embed for ``event`` (not what Chroma stores).

    The summary's salient lines without its bookkeeping line (operation type, duration,
    session, time: all in the metadata) and without clock times, dates, UUIDs and long hex
    ids anywhere: they cost MiniLM tokens and carry nothing two related calls share. Fewer
    tokens per memory is most of what an embedding costs (``tooltrail bench embed``: same
    recall@3, about 1.7-1.9x the documents per second).
    """
    text = _BLANKS.sub(" ", _NOISE.sub("", "\n".join(_salient_parts(event))))
    return clip_utf8(text, MAX_SUMMARY_BYTES)


def to_memory(event: ToolExecutionEvent) -> MemoryRecord:
    """The memory of one event (a pure function: the same event gives the same record)."""
    kind = kind_of(event)
    metadata: dict[str, str | int | float | bool] = {
        "kind": kind, "domain": event.tags.domain, "environment": event.tags.environment,
        "tool": event.tool_id, "severity": event.tags.severity.value,
        "opType": event.op_type.value, "outcome": event.outcome.value,
        "sessionId": event.session_id, "timestamp": iso_ms_z(event.ended_at),
        "ts": int(event.ended_at.timestamp() * 1000), "eventId": event.event_id,
        "elapsedMs": round(event.elapsed_ms, 3),
    }  # fmt: skip
    if event.incident_id:
        metadata["incidentId"] = event.incident_id
    return MemoryRecord(
        id=memory_id(kind, event.scope, event.ended_at, event.event_id),
        event_id=event.event_id,
        document=summarize(event),
        metadata=metadata,
    )


class MemorySink:
    """Embeds and upserts memories into Chroma (see module docstring)."""

    name = "memory"

    def __init__(self, settings: WorkerSettings, embedder: MiniLMOnnxEF | HashingEF,
                 names: dict[str, str] | None = None) -> None:  # fmt: skip
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
