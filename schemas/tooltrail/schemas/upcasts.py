"""Upcasters: how an older message becomes the current version, one step at a time.

Each step takes the parsed JSON object of version ``n`` and returns the object of version
``n + 1``, or the one-line reason it cannot (never echoing values). The codec applies them
before validating, so every reader accepts every supported older version.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from tooltrail.schemas.base import MAX_ERROR_SUMMARY_CHARS, first_line
from tooltrail.schemas.events import MAX_ANCHOR_CHARS, MAX_ANCHORS, ToolExecutionEvent
from tooltrail.schemas.wire import MAX_ELAPSED_MS, MAX_YEAR, MIN_YEAR

Upcaster = Callable[[dict[str, Any]], dict[str, Any] | str]
#: v1 event ids are derived from the record's canonical JSON in this namespace.
_SEED_NAMESPACE = uuid.UUID("5d1b0c2e-7f3a-4e8b-9a61-2b7c3f0e4d19")
_OUTCOMES = {
    "ok": "ok",
    "success": "ok",
    "succeeded": "ok",
    "completed": "ok",
    "error": "tool_error",
    "failure": "tool_error",
    "failed": "tool_error",
    "tool_error": "tool_error",
    "protocol_error": "protocol_error",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "timeout": "cancelled",
}


def _v1_time(raw: dict[str, Any]) -> tuple[datetime, float] | str:
    stamp, elapsed = raw.get("timestamp"), raw.get("elapsedMs") or 0.0
    if not isinstance(stamp, str) or len(stamp) > 64:
        return "v1 record needs a timestamp string"
    try:
        ended = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "v1 record has an unreadable timestamp"
    ended = ended if ended.tzinfo is not None else ended.replace(tzinfo=UTC)
    if not MIN_YEAR < ended.year < MAX_YEAR:
        return f"v1 record has a timestamp outside {MIN_YEAR}-{MAX_YEAR}"
    if isinstance(elapsed, bool) or not isinstance(elapsed, int | float):
        return "v1 record has a non-numeric elapsedMs"
    if not 0 <= elapsed <= MAX_ELAPSED_MS:  # also false for NaN
        return f"v1 record has an elapsedMs outside 0-{MAX_ELAPSED_MS}"
    return ended, float(elapsed)


def _text(value: Any, limit: int) -> Any:
    return value[:limit] if isinstance(value, str) else value


def _event_v1_to_v2(raw: dict[str, Any]) -> dict[str, Any] | str:
    """v1 is the per-call record of the older inline middleware (seed metrics shape)."""
    timing = _v1_time(raw)
    if isinstance(timing, str):
        return timing
    ended, elapsed = timing
    outcome = _OUTCOMES.get(str(raw.get("outcome", "")).lower()[:32])
    if outcome is None:
        outcome = "tool_error" if raw.get("errorSummary") else "ok"
    flags, anchors, cleanup = raw.get("flags"), raw.get("anchors"), raw.get("cleanupCheck")
    session, op_type = raw.get("sessionId"), raw.get("opType")
    error = raw.get("errorSummary")
    canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    return {
        "schemaVersion": 2,
        "eventId": str(uuid.uuid5(_SEED_NAMESPACE, canonical.decode())),
        "toolId": _text(raw.get("toolId"), 200),
        "opType": op_type if isinstance(op_type, str) and op_type in _OP_TYPES else "other",
        "mode": _text(raw.get("mode"), 64) if isinstance(raw.get("mode"), str) else "default",
        "sessionId": session[:200] if isinstance(session, str) and session else "unknown",
        "outcome": outcome,
        "startedAt": (ended - timedelta(milliseconds=elapsed)).isoformat(),
        "endedAt": ended.isoformat(),
        "elapsedMs": elapsed,
        "errorSummary": first_line(error, MAX_ERROR_SUMMARY_CHARS),
        "cleanupCheck": None if cleanup is None else _cleanup_text(cleanup),
        "anchors": [_text(a, MAX_ANCHOR_CHARS) for a in anchors[:MAX_ANCHORS]]
        if isinstance(anchors, list)
        else [],
        "flags": {k[:64]: v for k, v in flags.items() if isinstance(v, bool)}
        if isinstance(flags, dict)
        else {},
    }


def _cleanup_text(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text[:200]


_OP_TYPES = {"read", "write", "diagnostic", "memory", "workflow", "other"}
#: Version assumed when a message carries no ``schemaVersion`` (older writers omitted it).
MISSING_VERSION: dict[str, int] = {ToolExecutionEvent.__name__: 1, "MetricRecord": 2}
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    (ToolExecutionEvent.__name__, 1): _event_v1_to_v2,
}
