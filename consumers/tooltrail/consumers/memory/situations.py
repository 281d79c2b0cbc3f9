"""A memory is a situation: what one event is an occurrence of.

``situation_of(event)`` is pure and deterministic. The situation is the event's scope
(environment, domain, tenant), tool, outcome class and the normalized signature of its
*salient* line: the line that says what went wrong (an exception, an event reason, a
non-ready state), searched over the error and the whole result, preferring the *last* such
line (a log's cause is at its tail, not its head). A call with nothing salient is a routine
success, the situation ``<tool> ok on <normalized context>``. Infrastructure noise (pod
hashes, IPs, ids, times, counters) is normalized away (``normalize``), so every occurrence of
one situation gets one id: ``sit-`` + blake2b hex of the identity fields.

The embedding text is the situation, not the call: tool, outcome, the normalized salient line
and context with the placeholders dropped, a few dozen MiniLM tokens. It depends only on the
identity, so a known situation is never embedded again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from tooltrail.consumers.memory.normalize import normalize, strip_placeholders
from tooltrail.consumers.memory.records import kind_of
from tooltrail.schemas.base import MAX_SUMMARY_BYTES, clip_utf8
from tooltrail.schemas.events import Outcome, ToolExecutionEvent

__all__ = [
    "SituationRecord",
    "distinct_key",
    "embedding_text_of",
    "salient_line",
    "situation_id",
    "situation_of",
]

SCHEMA = "situation/1"
SIGNATURE_CHARS = 200
IDENTITY_CHARS = 320
SALIENT_CHARS = 300
EMBED_CHARS = 320
_CONTEXT_ARGS = ("namespace", "deployment", "pod", "name", "node", "selector", "resource", "kind")
#: Words that make a line salient, by weight. Matched on the lowercased line (substring).
_STRONG = (
    "exception", "error:", "oomkilled", "crashloopbackoff", "panic", "fatal", "traceback",
    "caused by", "imagepullbackoff", "errimagepull", "segfault", "outofmemory", "killed",
)  # fmt: skip
_MEDIUM = (
    "error", "fail", "refused", "timeout", "timed out", "denied", "forbidden", "evicted",
    "backoff", "back-off", "unhealthy", "notready", "not ready", "unavailable", "pending",
    "unreachable", "exceeded", "not found", "insufficient", "invalid", "warning", "degraded",
    "conflict",
)  # fmt: skip
_LINES_SCANNED = 200


@dataclass(frozen=True, slots=True)
class SituationRecord:
    """One event seen as an occurrence of its situation (merged by ``consolidate``)."""

    id: str
    kind: str
    signature: str
    salient: str
    embedding_text: str
    document: str
    metadata: dict[str, str | int | float | bool]
    event_id: str
    ts: int
    session_id: str
    example_args: str


def _score(line: str) -> int:
    low = line.lower()
    if any(word in low for word in _STRONG):
        return 3
    return 2 if any(word in low for word in _MEDIUM) else 0


def salient_line(event: ToolExecutionEvent) -> str:
    """The line that says most about the call: highest salience, the last of equals.

    Empty when nothing in the error or result is salient (a routine success, or a failure
    whose error says nothing: its first error line is used by the caller).
    """
    best, best_score = "", 0
    texts = [event.error_summary or "", event.result_summary or ""]
    for text in texts:
        for line in text.splitlines()[-_LINES_SCANNED:]:
            score = _score(line)
            if score and score >= best_score and line.strip():
                best, best_score = line.strip(), score
    return best


def _context(event: ToolExecutionEvent) -> str:
    scalars = {k: v for k, v in event.args.items() if isinstance(v, str | int | float | bool)}
    names = [k for k in _CONTEXT_ARGS if k in scalars]
    if not names:
        names = sorted(scalars)[:3]
    return " ".join(f"{k}={normalize(str(scalars[k])[:80], 80)}" for k in names)


def _signature(event: ToolExecutionEvent, salient: str) -> str:
    """Normalized: the salient line (with the error's first line when it adds to it), or for a
    routine success ``ok: <first result line>``; then ``on <context>``. At most
    ``IDENTITY_CHARS`` (the stored ``signature`` keeps the first ``SIGNATURE_CHARS``)."""
    context = _context(event)
    error = normalize((event.error_summary or "").partition("\n")[0], 1024)[:120]
    if salient:
        core = normalize(salient, 1024)
        if error and error not in core:
            core = f"{core}; {error}"
    elif event.outcome == Outcome.OK:
        first = normalize((event.result_summary or "").partition("\n")[0], 1024)[:100]
        # the first line tells successes apart (a table's header, a log's first message):
        # without it recall@3 on the retrieval set drops from 0.490 to 0.453
        core = f"ok: {first}" if first else "ok"
    else:
        core = error
    return (f"{core} on {context}" if context else core).strip()[:IDENTITY_CHARS]


def _tenant(event: ToolExecutionEvent) -> str:
    return str(getattr(event.tags, "tenant", None) or "")


def _identity(event: ToolExecutionEvent, signature: str) -> str:
    tags = event.tags
    return "\x1f".join(
        [
            tags.environment,
            tags.domain,
            _tenant(event),
            event.tool_id,
            event.outcome.value,
            signature,
        ]
    )


def situation_id(event: ToolExecutionEvent) -> str:
    """``sit-`` + 16 hex of (environment, domain, tenant, tool, outcome, signature)."""
    return _id_of(_identity(event, _signature(event, salient_line(event))))


def _id_of(identity: str) -> str:
    return "sit-" + hashlib.blake2b(identity.encode(), digest_size=8).hexdigest()


def embedding_text_of(tool_id: str, outcome: str, signature: str) -> str:
    """The short text a situation is embedded by (a function of its identity only)."""
    return clip_utf8(strip_placeholders(f"{tool_id} {outcome}: {signature}"), EMBED_CHARS)


def _raw_context(event: ToolExecutionEvent) -> str:
    scalars = {k: v for k, v in event.args.items() if isinstance(v, str | int | float | bool)}
    names = [k for k in _CONTEXT_ARGS if k in scalars] or sorted(scalars)[:3]
    return " ".join(f"{k}={str(scalars[k])[:60]}" for k in names)


def _document(event: ToolExecutionEvent, shown: str) -> str:
    """Salient line first, with the call's context; then the error and the result's tail."""
    context = _raw_context(event)
    head = f"{event.tool_id} {event.outcome.value}: {shown}"
    parts = [clip_utf8(f"{head} ({context})" if context else head, SALIENT_CHARS)]
    if event.error_summary and event.error_summary.strip() != shown:
        parts.append(event.error_summary)
    if event.result_summary:
        lines = event.result_summary.splitlines()
        parts.append("\n".join(lines[-8:]))  # the tail: where a log's cause is
    return clip_utf8("\n".join(parts), MAX_SUMMARY_BYTES)


def _example_args(event: ToolExecutionEvent) -> str:
    import orjson

    raw = orjson.dumps(event.args, option=orjson.OPT_SORT_KEYS, default=str).decode()
    return raw if len(raw.encode()) <= 300 else clip_utf8(raw, 280) + "…"


def situation_of(event: ToolExecutionEvent) -> SituationRecord:
    """The situation ``event`` is an occurrence of (pure: same event, same record)."""
    salient = salient_line(event)
    signature = _signature(event, salient)
    sid = _id_of(_identity(event, signature))
    kind = kind_of(event)
    ts = int(event.ended_at.timestamp() * 1000)
    fallback = (event.error_summary or "").partition("\n")[0] or "ok"
    shown = clip_utf8(salient or fallback, SALIENT_CHARS)
    metadata: dict[str, str | int | float | bool] = {
        "schema": SCHEMA,
        "kind": kind,
        "environment": event.tags.environment,
        "domain": event.tags.domain,
        "tenant": _tenant(event),
        "tool": event.tool_id,
        "outcome": event.outcome.value,
        "severity": event.tags.severity.value,
        "opType": event.op_type.value,
        "signature": signature[:SIGNATURE_CHARS],
        "salient": shown,
    }
    if event.incident_id:
        metadata["incidentId"] = event.incident_id
    return SituationRecord(
        id=sid,
        kind=kind,
        signature=signature[:SIGNATURE_CHARS],
        salient=shown,
        embedding_text=embedding_text_of(event.tool_id, event.outcome.value, signature),
        document=_document(event, shown),
        metadata=metadata,
        event_id=event.event_id,
        ts=ts,
        session_id=event.session_id,
        example_args=_example_args(event),
    )


def distinct_key(meta: dict[str, Any], document: str) -> str:
    """What makes two stored memories one situation to an agent (per-call ones: first line)."""
    if meta.get("signature"):
        return "\x1f".join(
            str(meta.get(k, "")) for k in ("environment", "tool", "outcome", "signature")
        )
    return (document.splitlines() or [""])[0]


def as_situation_metadata(meta: dict[str, Any], document: str) -> dict[str, Any]:
    """A stored memory's metadata read as a situation's (old per-call ones: 1 occurrence)."""
    if meta.get("schema") == SCHEMA:
        return meta
    ts = int(meta.get("ts", 0) or 0)
    out = dict(meta)
    out.setdefault("occurrences", 1)
    out.setdefault("sessions", 1)
    out.setdefault("salient", (document.splitlines() or [""])[0][:SALIENT_CHARS])
    out.setdefault("firstTs", ts)
    out.setdefault("lastTs", ts)
    return out
