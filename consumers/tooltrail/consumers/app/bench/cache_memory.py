"""Heap bytes of one pre-search cache entry (``tooltrail bench enrich``), measured with
tracemalloc: the compact tuple form the cache keeps against the pydantic entry it used to."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime

from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.enrichment import EnrichmentCache
from tooltrail.schemas.codec import decode, encode
from tooltrail.schemas.keys import cache_key
from tooltrail.schemas.records import EnrichmentEntry, EnrichmentHit


def entry_memory(n: int) -> dict[str, float]:
    """Heap bytes per cached entry (tracemalloc): the compact form against the pydantic entry
    the cache used to keep, both holding three hits with 300-character salient lines."""
    cache = EnrichmentCache(
        TrailProducer.default_settings().model_copy(
            update={"enrichment_max_entries": n + 1, "enrichment_max_bytes": 1 << 34}
        )
    )
    made = []
    for i in range(n + 1):
        hits = tuple(
            EnrichmentHit(
                id=f"sit-{i:032x}{j}",
                summary=(f"pod web-{i}-{j} CrashLoopBackOff: Back-off restarting failed " * 5)[
                    :300
                ],
                distance=0.1 * j,
                kind="failure",
                severity="error",
                timestamp=datetime.now(UTC),
                tool="oc_read_logs",
                outcome="tool_error",
                occurrences=3,
            )
            for j in range(3)
        )
        key = cache_key("oc_read_logs", {"namespace": f"ns-{i}"}, scope=cache.scope)
        made.append(
            (
                key,
                EnrichmentEntry(
                    key=key,
                    tool_id="oc_read_logs",
                    hits=hits,
                    computed_at=datetime.now(UTC),
                    source_event_id="e",
                ),
            )
        )
    cache.apply(*made[0])
    wire = [encode(entry) for _, entry in made[1:]]

    def measured(fill: Callable[[], object]) -> float:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            kept = fill()
            gc.collect()
            used = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        del kept
        return used / n

    counted = cache.size_bytes

    def fill_cache() -> object:
        for key, entry in made[1:]:
            cache.apply("".join(key), entry)  # a key as read off the topic: a string of its own
        return cache

    compact = measured(fill_cache)
    models = measured(
        lambda: {
            "".join(k): decode(v, EnrichmentEntry) for (k, _), v in zip(made[1:], wire, strict=True)
        }
    )
    return {
        "compact": round(compact),
        "counted": round((cache.size_bytes - counted) / n),
        "pydantic": round(models),
        "wire": round(sum(map(len, wire)) / n),
    }
