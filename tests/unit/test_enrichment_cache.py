"""The tool server's cache is bounded in bytes, and what it counts is what the heap holds."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from tooltrail.producer.enrichment import EnrichmentCache
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas import EnrichmentEntry, EnrichmentHit
from tooltrail.schemas.keys import cache_key

LINE = "pod web-{i}-{j} CrashLoopBackOff: Back-off restarting failed container in ns-{i} "


def _entries(cache: EnrichmentCache, n: int, start: int = 0) -> list[tuple[str, EnrichmentEntry]]:
    out = []
    for i in range(start, start + n):
        hits = tuple(
            EnrichmentHit(
                id=f"sit-{i:032x}{j}",
                summary=(LINE.format(i=i, j=j) * 4)[:300],
                distance=0.1 * j,
                kind="failure",
                severity="error",
                timestamp=datetime.now(UTC),
                tool="oc_read_logs",
                outcome="tool_error",
                occurrences=3 + j,
            )
            for j in range(3)
        )
        key = cache_key("oc_read_logs", {"namespace": f"ns-{i}"}, scope=cache.scope)
        entry = EnrichmentEntry(
            key=key,
            tool_id="oc_read_logs",
            hits=hits,
            computed_at=datetime.now(UTC),
            source_event_id="e",
        )
        out.append((key, entry))
    return out


def test_counted_bytes_cover_what_the_heap_holds(tmp_path: Path) -> None:
    settings = ProducerSettings(
        outbox_dir=tmp_path, enrichment_max_entries=100_000, enrichment_max_bytes=1 << 33
    )
    cache = EnrichmentCache(settings)
    entries = _entries(cache, 2_001)
    cache.apply(*entries[0])  # the interned labels and the table's first growth
    fresh = [("".join(key), entry) for key, entry in entries[1:]]  # keys as read off the topic
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        counted = cache.size_bytes
        for key, entry in fresh:
            cache.apply(key, entry)
        gc.collect()
        measured = (tracemalloc.get_traced_memory()[0] - before) / len(fresh)
    finally:
        tracemalloc.stop()
    estimated = (cache.size_bytes - counted) / len(fresh)
    # never under the truth (the bound holds), at most a third over (the bound is useful)
    assert measured <= estimated <= 1.33 * measured, (measured, estimated)
    assert estimated < 3_000  # three hits of 200-character excerpts; a pydantic entry: ~6.4 KB


def test_cache_evicts_the_least_recent_to_stay_within_its_bytes(tmp_path: Path) -> None:
    limit = 256 * 1024
    cache = EnrichmentCache(
        ProducerSettings(outbox_dir=tmp_path, enrichment_max_bytes=limit, enrichment_ttl_s=60)
    )
    entries = _entries(cache, 1_000)
    for key, entry in entries[:10]:
        cache.apply(key, entry)
    assert cache.lookup("oc_read_logs", {"namespace": "ns-0"})  # key 0: most recently used
    for key, entry in entries[10:]:
        cache.apply(key, entry)
        assert cache.size_bytes <= limit
    assert limit - 3_000 < cache.size_bytes
    assert 80 < len(cache) < 120
    assert cache.lookup("oc_read_logs", {"namespace": "ns-1"}) == ()  # evicted
    assert cache.lookup("oc_read_logs", {"namespace": "ns-999"})
    cache.apply(entries[999][0], None)  # a tombstone gives its bytes back
    assert cache.size_bytes < limit - 1_000
    key, entry = entries[998]
    before = cache.size_bytes
    cache.apply(key, entry)  # the same key again replaces, never adds
    assert cache.size_bytes == before
