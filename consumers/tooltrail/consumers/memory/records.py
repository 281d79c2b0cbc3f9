"""What a memory is made of, for every writer and reader: its record, summary and embedding text.

Pure functions of one event (the same event gives the same record), shared by the memory and
enrich sinks, replay and the benchmarks.
"""

from __future__ import annotations

import re

from tooltrail.schemas.base import MAX_SUMMARY_BYTES, clip_utf8, iso_ms_z
from tooltrail.schemas.events import Outcome, ToolExecutionEvent
from tooltrail.schemas.ids import memory_id
from tooltrail.schemas.records import MemoryRecord

_SALIENT_ARGS = ("namespace", "pod", "name", "deployment", "node", "selector", "resource")
__all__ = ["embedding_text", "kind_of", "summarize", "to_memory"]


def kind_of(event: ToolExecutionEvent) -> str:
    """``incident`` if tied to an incident, ``failure`` if the call failed, else ``tool_exec``."""
    if event.incident_id:
        return "incident"
    return "tool_exec" if event.outcome == Outcome.OK else "failure"


def _salient_parts(event: ToolExecutionEvent) -> list[str]:
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
    return parts


def summarize(event: ToolExecutionEvent) -> str:
    """The ≤ 1.5 KB memory text, most salient first."""
    parts = _salient_parts(event)
    parts.append(
        f"[{event.op_type.value}; {event.elapsed_ms:.0f} ms; session {event.session_id}; "
        f"{iso_ms_z(event.ended_at)}]"
    )
    return clip_utf8("\n".join(parts), MAX_SUMMARY_BYTES)


#: What carries no meaning for retrieval but costs MiniLM tokens: clock times and dates,
#: UUIDs, long hexadecimal ids (digest, commit, container id).
_NOISE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
    r"|\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
    r"|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}\b",
    re.IGNORECASE,
)
_BLANKS = re.compile(r"[ \t]+")


def embedding_text(event: ToolExecutionEvent) -> str:
    """The text the memory and enrich groups embed for ``event`` (not what Chroma stores).

    The summary's salient lines without its bookkeeping line (operation type, duration,
    session, time: all in the metadata) and without clock times, dates, UUIDs and long hex
    ids anywhere: they cost MiniLM tokens and carry nothing two related calls share. Fewer
    tokens per memory is most of what an embedding costs (``tooltrail bench embed``: same
    recall@3, about 1.7-1.9x the documents per second).
    """
    text = _BLANKS.sub(" ", _NOISE.sub("", "\n".join(_salient_parts(event))))
    return clip_utf8(text, MAX_SUMMARY_BYTES)


def to_memory(event: ToolExecutionEvent) -> MemoryRecord:
    """The memory of one event (a pure function: the same event gives the same record)."""
    kind = kind_of(event)
    metadata: dict[str, str | int | float | bool] = {
        "kind": kind,
        "domain": event.tags.domain,
        "environment": event.tags.environment,
        "tool": event.tool_id,
        "severity": event.tags.severity.value,
        "opType": event.op_type.value,
        "outcome": event.outcome.value,
        "sessionId": event.session_id,
        "timestamp": iso_ms_z(event.ended_at),
        "ts": int(event.ended_at.timestamp() * 1000),
        "eventId": event.event_id,
        "elapsedMs": round(event.elapsed_ms, 3),
    }
    if event.incident_id:
        metadata["incidentId"] = event.incident_id
    return MemoryRecord(
        id=memory_id(kind, event.scope, event.ended_at, event.event_id),
        event_id=event.event_id,
        document=summarize(event),
        metadata=metadata,
    )
