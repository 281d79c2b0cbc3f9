"""``EnrichmentCache``: the tool server's always-warm view of the enrichment topic.

A daemon thread with its own loop reads ``tooltrail.enrichment`` group-less (all
partitions, from the beginning, then follows) and keeps the newest entry per key in a
bounded LRU (``TOOLTRAIL_ENRICHMENT_MAX_ENTRIES``); a tombstone deletes its key. ``lookup`` is
sync and O(1) under a short lock; an entry older than ``TOOLTRAIL_ENRICHMENT_TTL_S``, a cold
cache or an unreachable broker all give "no hits", never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.backoff import Backoff
from tooltrail.schemas.codec import decode
from tooltrail.schemas.errors import SchemaDecodeError
from tooltrail.schemas.kafka.clients import kafka_consumer
from tooltrail.schemas.keys import cache_key
from tooltrail.schemas.records import EnrichmentEntry, EnrichmentHit

log = logging.getLogger(__name__)
NO_HITS: tuple[EnrichmentHit, ...] = ()
_current: ContextVar[tuple[EnrichmentHit, ...]] = ContextVar("tooltrail_presearch", default=NO_HITS)


def current_enrichment() -> tuple[EnrichmentHit, ...]:
    """The pre-search hits of the tool call running in this context (empty if none)."""
    return _current.get()


def set_current(hits: tuple[EnrichmentHit, ...]) -> None:
    """Expose ``hits`` to the tool about to run (adapters call this)."""
    _current.set(hits)


class EnrichmentCache:
    """Bounded LRU of enrichment entries fed by a background consumer (see module docstring)."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.settings = settings
        self._scope = settings.key_scope
        self._entries: OrderedDict[str, EnrichmentEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="tooltrail-enrichment", daemon=True)
        self.applied = 0
        self.hits = 0
        self.misses = 0

    # --- hot path ------------------------------------------------------------------------------
    def lookup(self, tool_id: str, args: Any) -> tuple[EnrichmentHit, ...]:
        """Hits cached for this call's key. Any thread; O(1); never blocks on I/O; never raises."""
        try:
            if not self._entries:  # nothing followed yet (or all evicted): no key to compute
                self.misses += 1
                return NO_HITS
            key = cache_key(tool_id, args, self._scope)
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
            ttl = self.settings.enrichment_ttl_s
            if entry is None or time.time() - entry.computed_at.timestamp() > ttl:
                self.misses += 1
                return NO_HITS
            self.hits += 1
        except Exception:  # noqa: BLE001 - a lookup must never fail a tool call
            return NO_HITS
        return entry.hits

    # --- feeding ---------------------------------------------------------------------------------
    def apply(self, key: str, entry: EnrichmentEntry | None) -> None:
        """Store (or, for a tombstone, delete) one key; evict the least recently used."""
        with self._lock:
            if entry is None:
                self._entries.pop(key, None)
                return
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.settings.enrichment_max_entries:
                self._entries.popitem(last=False)
            self.applied += 1

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
                        self._apply_record(record.key, record.value)
        finally:
            await settle(stop_kafka(consumer), 5.0)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        topic = self.settings.enrichment_topic
        if topic not in await consumer.topics():
            return []
        return [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]

    def _apply_record(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        if value is None:
            self.apply(key.decode(errors="replace"), None)
            return
        try:
            entry = decode(value, EnrichmentEntry)
        except SchemaDecodeError as exc:
            log.warning("enrichment cache: skipping a bad entry: %s", exc.reason)
            return
        self.apply(entry.key, entry)
