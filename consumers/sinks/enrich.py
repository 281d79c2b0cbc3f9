"""The enrich sink (``tooltrail-enrich``): related memories per cache key, for the next call.

Per batch, events are coalesced to the latest per cache key (``schemas.keys.cache_key``, the
key the tool server looks up). For each, the summary is embedded once, the call's own memory
is upserted (idempotent, same id as the memory group's, so the entry can include it even
if the memory group is behind), and the top ``TOOLTRAIL_ENRICH_K`` memories by cosine
distance are published as an ``EnrichmentEntry`` keyed by the cache key to the (compacted)
enrichment topic; the runner commits only after Kafka acknowledged every entry. The entry is
what the *next* call with that key sees, so it includes the triggering call's memory;
``TOOLTRAIL_ENRICH_EXCLUDE_SAME_SESSION`` leaves the caller's own session out.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from consumers.embedders import HashingEF, MiniLMOnnxEF
from consumers.errors import RetriableSinkError
from consumers.runner import Delivered
from consumers.settings import WorkerSettings
from consumers.sinks.memory import MemorySink, to_memory
from schemas.codec import encode
from schemas.events import ToolExecutionEvent
from schemas.keys import cache_key
from schemas.records import EnrichmentEntry, EnrichmentHit


class EnrichSink:
    """Computes and publishes enrichment entries (see module docstring)."""

    name = "enrich"

    def __init__(self, settings: WorkerSettings, embedder: MiniLMOnnxEF | HashingEF) -> None:
        self.settings = settings
        self.embedder = embedder
        self.memory = MemorySink(settings, embedder)
        self.scope = settings.key_scope
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect to Chroma (retried later if down) and start the entry producer."""
        await self.memory.start()
        self._producer = AIOKafkaProducer(**self.settings.kafka_kwargs(), acks="all",
                                          enable_idempotence=False)  # fmt: skip
        await self._producer.start()

    async def write(self, batch: list[Delivered]) -> None:
        """Publish one entry per distinct key in the batch; return once Kafka has them."""
        latest: dict[str, ToolExecutionEvent] = {}
        for item in batch:
            latest[cache_key(item.event.tool_id, item.event.args, self.scope)] = item.event
        entries = await asyncio.to_thread(self._compute, latest)
        if self._producer is None:
            raise RetriableSinkError("enrichment producer not started")
        topic = self.settings.enrichment_topic
        futures = [await self._producer.send(topic, encode(entry), key=entry.key.encode())
                   for entry in entries]  # fmt: skip
        for future in futures:
            await future

    def _compute(self, latest: dict[str, ToolExecutionEvent]) -> list[EnrichmentEntry]:
        self.memory.ensure()
        records = {key: to_memory(event) for key, event in latest.items()}
        vectors = dict(
            zip(records, self.embedder([r.document for r in records.values()]), strict=True)
        )
        try:
            if self.settings.enable_vector_writes:
                for key, record in records.items():
                    name = self.memory.names[str(record.metadata["kind"])]
                    collection = self.memory.collection(name)
                    collection.upsert(ids=[record.id], embeddings=[vectors[key]],
                                      documents=[record.document],
                                      metadatas=[record.metadata])  # fmt: skip
            return [self._entry(key, latest[key], vectors[key]) for key in latest]
        except (httpx.TransportError, OSError, TimeoutError) as exc:
            raise RetriableSinkError(f"chroma unreachable: {exc}") from exc

    def _entry(self, key: str, event: ToolExecutionEvent, vector: Any) -> EnrichmentEntry:
        where = (
            {"sessionId": {"$ne": event.session_id}}
            if self.settings.enrich_exclude_same_session
            else None
        )
        found: list[EnrichmentHit] = []
        for name in sorted(set(self.memory.names.values())):
            res = self.memory.collection(name).query(
                query_embeddings=[vector], n_results=self.settings.enrich_k, where=where,
                include=["documents", "metadatas", "distances"],
            )  # fmt: skip
            rows = zip(res["ids"][0], res["documents"][0], res["metadatas"][0],
                       res["distances"][0], strict=True)  # fmt: skip
            for hit_id, doc, meta, dist in rows:
                found.append(EnrichmentHit(
                    id=hit_id, summary=(doc or "").splitlines()[0][:300] if doc else "",
                    distance=float(dist), kind=str(meta.get("kind", "")),
                    severity=str(meta.get("severity", "info")),
                    timestamp=datetime.fromtimestamp(int(meta.get("ts", 0)) / 1000, tz=UTC),
                ))  # fmt: skip
        hits = tuple(sorted(found, key=lambda h: h.distance)[: self.settings.enrich_k])
        return EnrichmentEntry(key=key, tool_id=event.tool_id, hits=hits,
                               computed_at=datetime.now(UTC),
                               source_event_id=event.event_id)  # fmt: skip

    async def close(self) -> None:
        """Stop the producer and close Chroma."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self.memory.close()
