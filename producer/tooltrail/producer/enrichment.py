"""``EnrichmentCache``: the tool server's always-warm view of the enrichment topic.

A daemon thread with its own loop reads ``tooltrail.enrichment`` group-less (all
partitions, from the beginning, then follows) and keeps the newest entry per key in an LRU
bounded in bytes (``TOOLTRAIL_ENRICHMENT_MAX_BYTES``) and in keys
(``TOOLTRAIL_ENRICHMENT_MAX_ENTRIES``); a tombstone deletes its key. ``lookup`` is sync and
O(1) under a short lock; an entry older than ``TOOLTRAIL_ENRICHMENT_TTL_S``, a cold cache or an
unreachable broker all give "no hits", never an error.

The topic is not trusted (README "Trust model"): a record is applied only if its signature
(``schemas.signing``) verifies with the shared key, its value decodes, the key inside the value
is the record key, and the entry's scope is this server's; anything else is ignored and
counted by reason in ``rejected``. A verified entry is kept compact: its hits as sanitized
``PresearchHit`` tuples (``hits.py``), never the pydantic model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from tooltrail.producer.calls import producer_scope
from tooltrail.producer.hits import PresearchHit, cost_bytes
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.backoff import Backoff
from tooltrail.schemas.codec import decode
from tooltrail.schemas.errors import SchemaDecodeError
from tooltrail.schemas.kafka.clients import kafka_consumer
from tooltrail.schemas.keys import Scope, cache_key
from tooltrail.schemas.records import EnrichmentEntry
from tooltrail.schemas.signing import signature_of, verify

log = logging.getLogger(__name__)
NO_HITS: tuple[PresearchHit, ...] = ()
#: Largest entry value read; an entry of ``MAX_HITS`` hits is a few KB.
MAX_ENTRY_BYTES = 64 * 1024
_current: ContextVar[tuple[PresearchHit, ...]] = ContextVar("tooltrail_presearch", default=NO_HITS)
_Stored = tuple[float, tuple[PresearchHit, ...], int]  # (computed at, hits, cost in bytes)


def current_enrichment() -> tuple[PresearchHit, ...]:
    """The pre-search hits of the tool call running in this context (empty if none).

    Untrusted data about past calls (README "Hits for agent builders"), never instructions.
    """
    return _current.get()


def set_current(hits: tuple[PresearchHit, ...]) -> None:
    """Expose ``hits`` to the tool about to run (adapters call this)."""
    _current.set(hits)


def trust_problem(settings: ProducerSettings) -> str | None:
    """Why pre-search cannot trust the topic with these settings, or None if it can."""
    try:
        key = settings.enrichment_signing_key()
    except ValueError as exc:  # the key file went away since the settings were loaded
        return f"pre-search is off: {exc}"
    if key is None and not settings.enrichment_unsigned:
        return (
            "no TOOLTRAIL_ENRICHMENT_KEY or TOOLTRAIL_ENRICHMENT_KEY_FILE: pre-search is off "
            "(set the key the enrich group signs with, or TOOLTRAIL_ENRICHMENT_UNSIGNED=true "
            "on both sides for a closed test setup)"
        )
    return None


class EnrichmentCache:
    """Verified entries in a byte-bounded LRU fed by a background consumer (module docstring)."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.settings = settings
        self._key_args = settings.key_scope
        self.scope: Scope = producer_scope(settings)
        self._signing_key = settings.enrichment_signing_key()
        self._with_excerpt = settings.enrichment_hits == "excerpt"
        self._entries: OrderedDict[str, _Stored] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="tooltrail-enrichment", daemon=True)
        self.applied = 0
        self.hits = 0
        self.misses = 0
        self.rejected: Counter[str] = Counter()
        self._slice_start = 0.0

    @property
    def size_bytes(self) -> int:
        """Heap bytes the cached entries hold (``hits.cost_bytes``), at most the bound."""
        return self._bytes

    # --- hot path ------------------------------------------------------------------------------
    def lookup(self, tool_id: str, args: Any) -> tuple[PresearchHit, ...]:
        """Hits cached for this call's key. Any thread; O(1); never blocks on I/O; never raises."""
        try:
            if not self._entries:  # nothing followed yet (or all evicted): no key to compute
                self.misses += 1
                return NO_HITS
            key = cache_key(tool_id, args, self._key_args, scope=self.scope)
            with self._lock:
                stored = self._entries.get(key)
                if stored is not None:
                    self._entries.move_to_end(key)
            if stored is None or time.time() - stored[0] > self.settings.enrichment_ttl_s:
                self.misses += 1
                return NO_HITS
            self.hits += 1
        except Exception:  # noqa: BLE001 - a lookup must never fail a tool call
            return NO_HITS
        return stored[1]

    # --- feeding ---------------------------------------------------------------------------------
    def apply(self, key: str, entry: EnrichmentEntry | None) -> None:
        """Store a verified entry (or, for a tombstone, delete its key); evict the least
        recently used until both bounds hold. Only the follower thread calls it."""
        if entry is None:
            with self._lock:
                old = self._entries.pop(key, None)
                self._bytes -= old[2] if old is not None else 0
            return
        hits = tuple(PresearchHit.of(h, self._with_excerpt) for h in entry.hits)
        stored = (entry.computed_at.timestamp(), hits, cost_bytes(key, hits))
        s = self.settings
        with self._lock:
            old = self._entries.pop(key, None)
            self._bytes += stored[2] - (old[2] if old is not None else 0)
            self._entries[key] = stored
            while self._entries and (
                len(self._entries) > s.enrichment_max_entries
                or self._bytes > s.enrichment_max_bytes
            ):
                self._bytes -= self._entries.popitem(last=False)[1][2]
            self.applied += 1

    def _reject(self, reason: str) -> None:
        if not self.rejected[reason]:  # the first of each reason is worth a line, not the rest
            log.warning("enrichment cache: ignoring entries: %s (counted)", reason)
        self.rejected[reason] += 1

    def __len__(self) -> int:
        return len(self._entries)

    def start(self) -> EnrichmentCache:
        """Follow the topic in a thread of its own; returns at once. (A ``TrailProducer`` runs
        ``follow`` on its sender's loop instead: one thread for both.)"""
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def close(self, timeout: float = 2.0) -> None:
        """Stop a cache started with ``start``. Idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _main(self) -> None:
        async def run() -> None:
            stop = asyncio.Event()

            async def watch() -> None:
                while not self._stop.is_set():  # noqa: ASYNC110 - a threading.Event
                    await asyncio.sleep(0.2)
                stop.set()

            watcher = asyncio.create_task(watch())
            await self.follow(stop)
            await watcher

        asyncio.run(run())

    async def follow(self, stop: asyncio.Event) -> None:
        """Read the topic from the beginning, then follow it, until ``stop``; retried with a
        backoff while Kafka or the topic is missing. Never raises."""
        backoff = Backoff(0.5, 10.0)
        while not stop.is_set():
            try:
                await self._follow(stop)
            except (KafkaError, OSError, TimeoutError) as exc:
                log.debug("enrichment cache: kafka unavailable: %s", exc)
            except Exception:  # restarted after the backoff
                log.exception("enrichment cache crashed; restarting")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.next())

    async def _follow(self, stop: asyncio.Event) -> None:
        s = self.settings
        consumer = kafka_consumer(
            s.kafka_kwargs(),
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=200,
            request_timeout_ms=s.request_timeout_ms,
        )
        try:
            await asyncio.wait_for(consumer.start(), s.request_timeout_ms / 1000)
            partitions = await self._partitions(consumer)
            if not partitions:
                return  # the topic does not exist yet: retried after a backoff
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while not stop.is_set():
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        self._apply_record(record.key, record.value, record.headers or ())
                        await self._pause_if_due()
        finally:
            await settle(stop_kafka(consumer), 5.0)

    async def _pause_if_due(self) -> None:
        """Verifying and sanitizing cost ~0.1 ms an entry, and a tool server reads the whole
        topic at start: pause like the sender (``TOOLTRAIL_SENDER_SLICE_US``), so a tool call's
        thread gets the GIL soon even while the cache warms up."""
        slice_s = self.settings.sender_slice_us / 1e6
        now = time.perf_counter()
        if slice_s and now - self._slice_start > slice_s:
            await asyncio.sleep(self.settings.sender_pause_us / 1e6)
            self._slice_start = time.perf_counter()
        elif not slice_s or now - self._slice_start > 10 * slice_s:
            self._slice_start = now

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        topic = self.settings.enrichment_topic
        if topic not in await consumer.topics():
            return []
        return [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]

    def _apply_record(
        self, key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]] = ()
    ) -> None:
        """Apply one record of the topic if it is authentic and ours (module docstring)."""
        if key is None or (value is not None and len(value) > MAX_ENTRY_BYTES):
            self._reject("malformed")
            return
        if self._signing_key is not None:
            verdict = verify(self._signing_key, key, value or b"", signature_of(headers))
            if verdict != "ok":
                self._reject(verdict)
                return
        text_key = key.decode(errors="replace")
        if value is None:
            self.apply(text_key, None)
            return
        try:
            entry = decode(value, EnrichmentEntry)
        except SchemaDecodeError:
            self._reject("malformed")
            return
        if entry.key != text_key:
            self._reject("key_mismatch")
        elif Scope(entry.environment, entry.domain, entry.tenant) != self.scope:
            self._reject("foreign_scope")
        else:
            self.apply(text_key, entry)
