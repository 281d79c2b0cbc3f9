"""Merging occurrences into a stored situation, the same whatever the batching or order.

Every merged field is order-independent, so live consolidation, a redelivery and a replay of
the same events (in any batching) build the same situation:

* ``occurrences``: +1 per event whose id is not among the situation's last ``DEDUP_WINDOW``
  event ids (kept as short hashes in ``seenIds``); a redelivered event in that window changes
  nothing. Under at-least-once delivery a redelivery of an event older than the window counts
  again: ``occurrences`` is exact while fewer than ``DEDUP_WINDOW`` occurrences of the
  situation separate a delivery from its redelivery (a crash redelivers at most the
  uncommitted batches), an upper bound otherwise; ``replay memory`` recomputes it.
* ``firstTs``/``lastTs`` (and ``firstSeen``/``lastSeen``, ``ts`` = ``lastTs``): min and max.
* ``eventIds``: the ``RECENT_IDS`` greatest (time, id) pairs seen (``eventTs`` holds their times).
* ``sessions``: distinct sessions, exact up to ``SKETCH`` sessions, then estimated from the
  ``SKETCH`` smallest session hashes kept (a k-minimum-values sketch, order-independent).
* ``salient``, the document and ``exampleArgs``: those of the latest (time, id) occurrence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from tooltrail.consumers.memory.situations import SituationRecord, as_situation_metadata
from tooltrail.schemas.base import iso_ms_z

__all__ = ["Merged", "merge"]

RECENT_IDS = 8
DEDUP_WINDOW = 64
SKETCH = 16
_KIND_RANK = {"tool_exec": 0, "failure": 1, "incident": 2}


@dataclass(frozen=True, slots=True)
class Merged:
    """What to upsert for one situation; ``embed`` says its stored vector cannot be reused."""

    id: str
    document: str
    metadata: dict[str, str | int | float | bool]
    embedding_text: str
    embed: bool


def _json_list(value: Any) -> list[Any]:
    try:
        parsed = orjson.loads(value) if isinstance(value, str) else []
    except orjson.JSONDecodeError:
        return []
    return parsed if isinstance(parsed, list) else []


def _session_hash(session_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(session_id.encode(), digest_size=4).digest(), "big")


def _sessions(sketch: list[int]) -> int:
    if len(sketch) < SKETCH:
        return len(sketch)
    return max(SKETCH, round((SKETCH - 1) * 2**32 / (sketch[-1] + 1)))


def _id_hash(event_id: str) -> str:
    return hashlib.blake2b(event_id.encode(), digest_size=5).hexdigest()


def _iso(ms: int) -> str:
    return iso_ms_z(datetime.fromtimestamp(ms / 1000, tz=UTC))


def merge(
    existing: dict[str, Any] | None, document: str, occurrences: Sequence[SituationRecord]
) -> Merged:
    """The situation after ``occurrences`` (all of one situation id) are added to ``existing``."""
    old = as_situation_metadata(existing, document) if existing else {}
    ids = [str(i) for i in _json_list(old.get("eventIds"))]
    pairs = [p for p in _json_list(old.get("seenIds")) if isinstance(p, list) and len(p) == 2]
    seen = {str(h): int(t) for h, t in pairs}
    seen.update(
        (_id_hash(i), int(old.get("lastTs", 0) or 0)) for i in ids if _id_hash(i) not in seen
    )
    times = [int(t) for t in _json_list(old.get("eventTs")) if isinstance(t, int)]
    recent = dict(zip(ids, times if len(times) == len(ids) else [0] * len(ids), strict=True))
    count = int(old.get("occurrences", 0) or 0)
    sketch = sorted({int(h) for h in _json_list(old.get("sessionSketch")) if isinstance(h, int)})
    first = int(old.get("firstTs", 0) or 0) or None
    last = int(old.get("lastTs", 0) or 0) or None
    latest_key = (last or 0, ids[-1] if ids else "")
    newest: SituationRecord | None = None
    kind = str(old.get("kind", occurrences[0].kind))
    for rec in sorted(occurrences, key=lambda r: (r.ts, r.event_id)):
        short = _id_hash(rec.event_id)
        if short in seen:
            continue  # a redelivery: already counted
        count += 1
        seen[short] = rec.ts
        recent[rec.event_id] = rec.ts
        sketch = sorted({*sketch, _session_hash(rec.session_id)})[:SKETCH]
        first = rec.ts if first is None else min(first, rec.ts)
        last = rec.ts if last is None else max(last, rec.ts)
        if (rec.ts, rec.event_id) >= latest_key:
            newest, latest_key = rec, (rec.ts, rec.event_id)
        if _KIND_RANK.get(rec.kind, 0) > _KIND_RANK.get(kind, 0):
            kind = rec.kind
    window = sorted(recent.items(), key=lambda item: (item[1], item[0]))[-RECENT_IDS:]
    dedup = sorted(seen.items(), key=lambda item: (item[1], item[0]))[-DEDUP_WINDOW:]
    base = newest or occurrences[-1]
    meta: dict[str, str | int | float | bool] = {
        k: v for k, v in old.items() if isinstance(v, str | int | float | bool)
    }
    if newest is not None or not existing:
        meta.update(base.metadata)
        meta["exampleArgs"] = base.example_args
        document = base.document
    first_ts, last_ts = first or base.ts, last or base.ts
    meta.update(
        kind=kind,
        occurrences=count,
        sessions=max(_sessions(sketch), int(old.get("sessions", 0) or 0)),
        sessionSketch=orjson.dumps(sketch).decode(),
        eventIds=orjson.dumps([i for i, _ in window]).decode(),
        eventTs=orjson.dumps([t for _, t in window]).decode(),
        seenIds=orjson.dumps([[h, t] for h, t in dedup]).decode(),
        firstTs=first_ts,
        lastTs=last_ts,
        ts=last_ts,
        firstSeen=_iso(first_ts),
        lastSeen=_iso(last_ts),
        embedText=base.embedding_text,
    )
    for stale in ("sessionId", "eventId", "timestamp", "elapsedMs"):
        meta.pop(stale, None)  # per-call keys of a memory written before situations
    embed = existing is None or old.get("embedText") != base.embedding_text
    return Merged(base.id, document, meta, base.embedding_text, embed)
