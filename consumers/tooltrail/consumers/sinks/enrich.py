"""The enrich sink (``tooltrail-enrich``): related past situations per cache key, for the next call.

Per batch, events are coalesced to the latest per cache key (``schemas.keys.cache_key``, the key
the tool server looks up). Each event is seen as its situation (``memory.situations``); the
distinct situation texts of the batch are embedded once, and the nearest situations of all keys
are found with batched Chroma queries per scope (``query_embeddings`` lists, filtered by
environment and domain: scopes never cross): one for the nearest, one for the nearest that say
more than "ok" (routine neighbours would crowd them out). The memory group owns the
situations: this group writes none. Hits are distinct situations (never two of one signature),
routine successes ranked ``ROUTINE_PENALTY`` farther, the caller's own situation left out
unless ``TOOLTRAIL_ENRICH_INCLUDE_OWN_SITUATION``; each carries its salient
line (the summary), tool, occurrences and when it was last seen. The top ``TOOLTRAIL_ENRICH_K``
are published as an ``EnrichmentEntry`` keyed by the cache key to the (compacted) enrichment
topic; the runner commits only after Kafka acknowledged every entry.
``TOOLTRAIL_ENRICH_EXCLUDE_SAME_SESSION`` also leaves out per-call memories (written before
situations) of the caller's own session. A stored memory whose metadata cannot make a hit is
left out of the entry (never fails the event).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tooltrail.consumers.errors import RetriableSinkError
from tooltrail.consumers.lanes import Lane
from tooltrail.consumers.memory.embedders import HashingEF, MiniLMOnnxEF
from tooltrail.consumers.memory.situations import SituationRecord, distinct_key, situation_of
from tooltrail.consumers.memory.store import MemoryStore, Row
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.base import Delivered
from tooltrail.consumers.sinks.entries import scoped, signed_headers
from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.codec import encode
from tooltrail.schemas.errors import SettingsError
from tooltrail.schemas.events import ToolExecutionEvent
from tooltrail.schemas.kafka.clients import kafka_producer
from tooltrail.schemas.keys import cache_key, event_scope
from tooltrail.schemas.records import EnrichmentEntry, EnrichmentHit

log = logging.getLogger(__name__)


def hit_of(row: Row) -> EnrichmentHit | None:
    """The hit a stored memory makes, or None if its metadata is unusable.

    A situation carries its tool and occurrences; a per-call memory written before situations
    reads as a situation of one occurrence. Its outcome and scope ride along (``entries``).
    """
    try:
        meta = row.metadata
        occurrences = int(meta.get("occurrences", 1) or 1)
        return EnrichmentHit(
            id=row.id,
            summary=row.document.splitlines()[0][:300] if row.document else "",
            distance=row.distance,
            kind=str(meta.get("kind", ""))[:32],
            severity=str(meta.get("severity", "info"))[:16],
            timestamp=datetime.fromtimestamp(int(meta.get("ts", 0)) / 1000, tz=UTC),
            tool=str(meta["tool"])[:200] if meta.get("tool") else None,
            occurrences=max(1, occurrences),
            outcome=str(meta["outcome"])[:32] if meta.get("outcome") else None,
            environment=str(meta.get("environment", "default"))[:64],
            domain=str(meta.get("domain", "general"))[:64],
            tenant=str(meta.get("tenant", ""))[:64],
        )
    except (ValueError, TypeError, OverflowError, OSError):
        log.warning("enrich: a stored memory has unusable metadata", extra={"id": row.id[:200]})
        return None


def entry_for(
    key: str,
    event: ToolExecutionEvent,
    rows: Sequence[Row],
    k: int,
    exclude: Sequence[str] = (),
) -> EnrichmentEntry:
    """The entry for ``key``: the ``k`` nearest usable, distinct situations not in ``exclude``,
    routine successes ranked ``ROUTINE_PENALTY`` farther (they tell an agent little)."""
    hits: list[EnrichmentHit] = []
    seen: set[str] = set(exclude)
    for row in sorted(rows, key=_rank):
        distinct = distinct_key(row.metadata, row.document)
        if row.id in seen or distinct in seen:
            continue
        hit = hit_of(row)
        if hit is not None:
            seen.update((row.id, distinct))
            hits.append(hit)
    return EnrichmentEntry(
        key=key,
        tool_id=event.tool_id,
        hits=tuple(hits[:k]),
        computed_at=datetime.now(UTC),
        source_event_id=event.event_id,
    )


#: A routine success ranks as if this much farther: it tells an agent little (its distance as
#: reported is unchanged). With 0.15, a failure at cosine distance 0.45 outranks a routine
#: success at 0.32.
ROUTINE_PENALTY = 0.15


def _rank(row: Row) -> float:
    meta = row.metadata
    routine = meta.get("outcome", "ok") == "ok" and meta.get("salient", "ok") == "ok"
    if "schema" not in meta:  # a per-call memory: routine unless it failed
        routine = meta.get("kind") == "tool_exec"
    return row.distance + (ROUTINE_PENALTY if routine else 0.0)


def scope_filter(event: ToolExecutionEvent) -> dict[str, Any]:
    """The Chroma filter of ``event``'s scope (every reader uses this shape)."""
    return {"$and": [{"environment": event.tags.environment}, {"domain": event.tags.domain}]}


class EnrichSink:
    """Computes and publishes enrichment entries (see module docstring)."""

    name = "enrich"

    def __init__(self, settings: WorkerSettings, embedder: MiniLMOnnxEF | HashingEF) -> None:
        self.settings = settings
        self.signing_key = settings.enrichment_signing_key()
        if self.signing_key is None and not settings.enrichment_unsigned:
            raise SettingsError(
                [
                    "the enrich group signs its entries: set TOOLTRAIL_ENRICHMENT_KEY or "
                    "TOOLTRAIL_ENRICHMENT_KEY_FILE (the key the tool servers verify with), or "
                    "TOOLTRAIL_ENRICHMENT_UNSIGNED=true on both sides for a closed test setup"
                ]
            )
        self.store = MemoryStore(settings, embedder)
        self.scope = settings.key_scope
        self.lane = Lane("enrich")
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Start the entry producer and connect to Chroma (either is retried by writes)."""
        await self._start_producer()
        await self.lane.run(self.store.warm)  # the model loads even while Chroma is down
        await self.lane.run(self.store.ensure)

    async def _start_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            s = self.settings
            timeout_ms = int(s.kafka_timeout_s * 1000)
            producer = kafka_producer(
                s.kafka_kwargs(),
                acks="all",
                enable_idempotence=False,
                request_timeout_ms=timeout_ms,
            )
            try:
                await asyncio.wait_for(producer.start(), s.kafka_timeout_s)
            except (KafkaError, OSError, TimeoutError) as exc:
                await settle(stop_kafka(producer), s.kafka_timeout_s)
                raise RetriableSinkError(f"enrichment producer: {exc!r}") from exc
            self._producer = producer
        return self._producer

    async def write(self, batch: list[Delivered]) -> None:
        """Publish one entry per distinct key in the batch, scoped and signed
        (``sinks.entries``); return once Kafka has them."""
        latest: dict[str, ToolExecutionEvent] = {}
        for item in batch:
            scope = event_scope(item.event.tags)  # the tool server keys its lookups alike
            latest[cache_key(item.event.tool_id, item.event.args, self.scope, scope=scope)] = (
                item.event
            )
        records = {key: situation_of(event) for key, event in latest.items()}
        entries = await self.lane.run(self._compute, latest, records)
        producer = await self._start_producer()
        s = self.settings
        try:
            async with asyncio.timeout(s.kafka_timeout_s):
                futures = []
                for entry in (scoped(e, latest[e.key]) for e in entries):
                    value = encode(entry)
                    headers = signed_headers(entry, value, self.signing_key)
                    futures.append(
                        await producer.send(
                            s.enrichment_topic, value, key=entry.key.encode(), headers=headers
                        )
                    )
                for future in futures:
                    await future
        except (KafkaError, TimeoutError) as exc:
            raise RetriableSinkError(f"enrichment topic: {type(exc).__name__}: {exc}") from exc

    def _compute(
        self, latest: dict[str, ToolExecutionEvent], records: dict[str, SituationRecord]
    ) -> list[EnrichmentEntry]:
        texts = sorted({rec.embedding_text for rec in records.values()})
        vector_of = dict(zip(texts, self.store.embed(texts), strict=True))
        s = self.settings
        scopes: dict[tuple[str, str], list[str]] = {}
        for key, event in latest.items():
            scopes.setdefault((event.tags.environment, event.tags.domain), []).append(key)
        fetch = min(s.enrich_k * 4 + 2, 50)  # room for the own situation, duplicates, routine
        rows: dict[str, list[Row]] = {}
        for keys in scopes.values():
            vectors = [vector_of[records[key].embedding_text] for key in keys]
            scope = scope_filter(latest[keys[0]])
            found = self.store.query_many(vectors, fetch, scope)
            # the nearest situations that say more than "ok", which routine neighbours crowd
            # out of the first query: one more batched query for all keys
            telling = {"$and": [*scope["$and"], {"salient": {"$ne": "ok"}}]}
            more = self.store.query_many(vectors, s.enrich_k + 1, telling)
            for key, near, far in zip(keys, found, more, strict=True):
                ids = {r.id for r in near}
                rows[key] = near + [r for r in far if r.id not in ids]
        entries = []
        for key, event in latest.items():
            mine = [] if s.enrich_include_own_situation else [records[key].id]
            usable = [
                r
                for r in rows[key]
                if not (
                    s.enrich_exclude_same_session
                    and r.metadata.get("sessionId") == event.session_id
                )
            ]
            entries.append(entry_for(key, event, usable, s.enrich_k, mine))
        return entries

    async def reload(self) -> None:
        """Nothing to reload: Chroma and the topic are shared by every member."""

    async def close(self) -> None:
        """Stop the producer and close Chroma."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await settle(stop_kafka(producer), self.settings.kafka_timeout_s)
        try:
            await self.lane.run(self.store.close)
        finally:
            self.lane.close()
