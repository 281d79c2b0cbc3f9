"""The memory sink (``tooltrail-memory``): one bounded, embedded summary per event in Chroma.

Each event becomes a ``MemoryRecord``: a deterministic id (replays upsert, never duplicate),
a summary of at most 1.5 KB that leads with what matters (tool, outcome, error, object and
namespace — MiniLM only reads the first ~256 tokens), and scalar metadata keys (kind, domain,
environment, tool, severity, opType, outcome, sessionId, timestamp, ts, eventId). Embedding
and upsert run in a worker thread. Collections: one (``UNIFIED_MEMORY=true``, with a ``kind``
key) or one per kind (``<prefix><kind>``); each records its embedder in its metadata, and a
collection made with another embedder is refused. Chroma unreachable → ``RetriableSinkError``
(the runner pauses and retries; other groups are unaffected).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import httpx

from consumers.chroma_client import close_client, open_client
from consumers.embedders import HashingEF, MiniLMOnnxEF, embedder_id
from consumers.errors import RetriableSinkError, SinkError
from consumers.runner import Delivered
from consumers.settings import WorkerSettings
from schemas.base import MAX_SUMMARY_BYTES, clip_utf8, iso_ms_z
from schemas.events import Outcome, ToolExecutionEvent
from schemas.ids import memory_id
from schemas.records import MemoryRecord

log = logging.getLogger(__name__)
KINDS = ("tool_exec", "failure", "incident")
_SALIENT_ARGS = ("namespace", "pod", "name", "deployment", "node", "selector", "resource")


class EmbedderMismatchError(SinkError):
    """The collection's vectors were made by another embedder."""


def kind_of(event: ToolExecutionEvent) -> str:
    """``incident`` if tied to an incident, ``failure`` if the call failed, else ``tool_exec``."""
    if event.incident_id:
        return "incident"
    return "tool_exec" if event.outcome == Outcome.OK else "failure"


def summarize(event: ToolExecutionEvent) -> str:
    """The ≤ 1.5 KB memory text, most salient first."""
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
    parts.append(f"[{event.op_type.value}; {event.elapsed_ms:.0f} ms; session {event.session_id}; "
                 f"{iso_ms_z(event.ended_at)}]")  # fmt: skip
    return clip_utf8("\n".join(parts), MAX_SUMMARY_BYTES)


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


def collection_names(settings: WorkerSettings) -> dict[str, str]:
    """``{kind: collection name}`` for the configured strategy."""
    if settings.unified_memory:
        return dict.fromkeys(KINDS, settings.chroma_collection)
    return {kind: f"{settings.chroma_collection_prefix}{kind}" for kind in KINDS}


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
        self.embedder = embedder
        self.embedder_id = embedder_id(embedder)
        self.names = names or collection_names(settings)
        self._client: Any = None
        self._collections: dict[str, Any] = {}

    async def start(self) -> None:
        """Connect and ensure every collection now; if Chroma is down, the first write retries."""
        try:
            await asyncio.to_thread(self.ensure)
        except RetriableSinkError as exc:
            log.warning("chroma not reachable at start; will retry", extra={"error": str(exc)})

    def ensure(self) -> None:
        """Connect and open every collection (blocking; call from a thread)."""
        try:
            if self._client is None:
                token = self.settings.chroma_token
                self._client = open_client(
                    self.settings.chroma_url, path=self.settings.chroma_path,
                    token=token.get_secret_value() if token else None,
                )  # fmt: skip
            for name in sorted(set(self.names.values())):
                if name not in self._collections:
                    self._collections[name] = self._open(name)
        except (httpx.TransportError, OSError, TimeoutError) as exc:
            raise RetriableSinkError(f"chroma unreachable: {exc}") from exc

    def _open(self, name: str) -> Any:
        try:
            collection = self._client.get_or_create_collection(
                name, embedding_function=self.embedder,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedder": self.embedder_id, "tooltrail": "memory/1"},
            )  # fmt: skip
        except ValueError as exc:  # chroma refuses a different embedding function itself
            if "conflict" not in str(exc).lower():
                raise
            collection = self._client.get_collection(name)
        found = (collection.metadata or {}).get("embedder")
        if found != self.embedder_id:
            raise EmbedderMismatchError(
                f"collection {name!r} was built with embedder {found!r}, this worker uses "
                f"{self.embedder_id!r}: rebuild it with 'tooltrail replay memory' or set "
                "TOOLTRAIL_EMBEDDER to match"
            )
        return collection

    async def write(self, batch: list[Delivered]) -> None:
        """Embed and upsert the batch's memories (idempotent by deterministic id)."""
        if not self.settings.enable_vector_writes:
            return
        by_collection: dict[str, dict[str, MemoryRecord]] = defaultdict(dict)
        for item in batch:
            record = to_memory(item.event)
            by_collection[self.names[str(record.metadata["kind"])]][record.id] = record
        await asyncio.to_thread(self._upsert, by_collection)

    def _upsert(self, by_collection: dict[str, dict[str, MemoryRecord]]) -> None:
        self.ensure()
        try:
            for name, records in by_collection.items():
                items = list(records.values())
                documents = [r.document for r in items]
                self._collections[name].upsert(
                    ids=[r.id for r in items], documents=documents,
                    embeddings=self.embedder(documents), metadatas=[r.metadata for r in items],
                )  # fmt: skip
        except (httpx.TransportError, OSError, TimeoutError) as exc:
            raise RetriableSinkError(f"chroma unreachable: {exc}") from exc

    def collection(self, name: str) -> Any:
        """An opened collection by name (after ``ensure``)."""
        return self._collections[name]

    async def close(self) -> None:
        """Close the Chroma client and its HTTP sessions."""
        if self._client is not None:
            close_client(self._client)
            self._client = None
