"""Bounded growth of the situations: retention by last sighting and a cap per scope.

Swept by the memory group between batches, every ``TOOLTRAIL_MEMORY_SWEEP_INTERVAL_S``, with
bounded work per sweep (at most ``budget`` deletions per collection and rule), so a sweep never
holds up a batch for long and a large backlog is worked off over several sweeps:

* retention: a situation (or a per-call memory written before situations) whose ``ts`` (its
  last sighting) is older than ``TOOLTRAIL_MEMORY_RETENTION_DAYS`` is deleted; a situation
  seen again before then lives on (its ``lastTs`` moved);
* cap: a scope (environment, domain) holding more than
  ``TOOLTRAIL_MEMORY_MAX_SITUATIONS_PER_SCOPE`` situations loses the ones seen longest ago.
  Only the scopes this worker wrote to are checked (an id-only ``get`` per scope).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tooltrail.consumers.memory.store import MemoryStore

log = logging.getLogger(__name__)
__all__ = ["SweepResult", "sweep"]
DAY_MS = 86_400_000


@dataclass
class SweepResult:
    """What one sweep deleted."""

    expired: int = 0
    evicted: int = 0


def _scope(environment: str, domain: str) -> dict[str, Any]:
    return {"$and": [{"environment": environment}, {"domain": domain}]}


def sweep(
    store: MemoryStore,
    now_ms: int,
    retention_days: float,
    cap: int,
    scopes: set[tuple[str, str]],
    budget: int = 1000,
) -> SweepResult:
    """Delete expired situations, then the oldest of each scope over ``cap`` (blocking)."""
    result = SweepResult()
    store.ensure()
    collections = [store.collection_by_name(n) for n in sorted(set(store.names.values()))]
    with store.guarded("chroma retention"):
        if retention_days > 0:
            cutoff = now_ms - int(retention_days * DAY_MS)
            for collection in collections:
                ids = collection.get(where={"ts": {"$lt": cutoff}}, limit=budget, include=[])["ids"]
                if ids:
                    collection.delete(ids=ids)
                    result.expired += len(ids)
        if cap > 0:
            for environment, domain in sorted(scopes):
                for collection in collections:
                    result.evicted += _evict(collection, _scope(environment, domain), cap, budget)
    if result.expired or result.evicted:
        log.info(
            "memory: swept situations", extra={"expired": result.expired, "evicted": result.evicted}
        )
    return result


def _evict(collection: Any, where: dict[str, Any], cap: int, budget: int) -> int:
    ids = collection.get(where=where, include=[])["ids"]
    if len(ids) <= cap:
        return 0
    metas = collection.get(ids=ids, include=["metadatas"])
    by_age = sorted(
        zip(metas["ids"], metas["metadatas"], strict=True),
        key=lambda item: (int((item[1] or {}).get("ts", 0) or 0), item[0]),
    )
    victims = [i for i, _ in by_age[: min(len(ids) - cap, budget)]]
    collection.delete(ids=victims)
    return len(victims)
