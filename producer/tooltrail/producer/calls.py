"""What adapters record per tool call, and how a record becomes a ``ToolExecutionEvent``.

On the call path an adapter only creates a ``ToolCall`` (a slots dataclass holding references)
and hands it to ``TrailProducer.emit``. Redaction of arguments and result, summarising and
validation happen in ``build_event``, which the sender thread runs off the call path. Raw
arguments therefore live only in this process's memory until they are redacted.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.base import MAX_ERROR_SUMMARY_CHARS, MAX_SUMMARY_BYTES, clip_utf8, first_line
from tooltrail.schemas.events import (
    MAX_ANCHOR_CHARS,
    MAX_ANCHORS,
    OpType,
    Outcome,
    Severity,
    Tags,
    ToolExecutionEvent,
)
from tooltrail.schemas.ids import new_event_id
from tooltrail.schemas.keys import Scope, event_scope
from tooltrail.schemas.redact import RedactionLimits, redact, redact_text

#: One id per process: a stdio server serves exactly one client.
PROCESS_SESSION_ID = f"proc-{uuid.uuid4().hex[:12]}"
_MAX_CONTENT_ITEMS = 64
_OP_WORDS: tuple[tuple[OpType, re.Pattern[str]], ...] = (
    (OpType.DIAGNOSTIC, re.compile(r"(^|_)(diag|diagnostic|health|check|debug|inspect)(_|$)")),
    (
        OpType.WRITE,
        re.compile(
            r"(^|_)(write|create|delete|apply|patch|scale|restart|rollout|update|set|drain|cordon)(_|$)"
        ),
    ),
    (OpType.READ, re.compile(r"(^|_)(read|get|list|describe|logs|show|search|watch|top)(_|$)")),
    (OpType.MEMORY, re.compile(r"(^|_)(memory|remember|recall)(_|$)")),
    (OpType.WORKFLOW, re.compile(r"(^|_)(workflow|runbook|plan|pipeline)(_|$)")),
)
_SEVERITY = {
    Outcome.OK: Severity.INFO,
    Outcome.CANCELLED: Severity.WARNING,
    Outcome.TOOL_ERROR: Severity.ERROR,
    Outcome.PROTOCOL_ERROR: Severity.ERROR,
}


@lru_cache(maxsize=1024)
def classify_op(tool_id: str) -> OpType:
    """Guess the operation type from the tool name (``oc_read_get_pods`` → read)."""
    name = tool_id.lower()
    for op, pattern in _OP_WORDS:
        if pattern.search(name):
            return op
    return OpType.OTHER


class ToolCall:
    """One tool call as an adapter saw it; raw and unredacted until ``build_event``.

    A plain slots class with an explicit ``__init__``: it is created on the call path.
    """

    __slots__ = (
        "anchors",
        "args",
        "elapsed_ms",
        "error",
        "hits",
        "incident_id",
        "op_type",
        "outcome",
        "result",
        "session_id",
        "started_perf",
        "started_wall",
        "tool_id",
        "trace",
    )

    def __init__(
        self, tool_id: str, args: Any, session_id: str, op_type: OpType | None = None
    ) -> None:
        self.tool_id = tool_id
        self.args = args
        self.session_id = session_id
        self.op_type = op_type
        self.started_wall = time.time()
        self.started_perf = time.perf_counter()
        self.elapsed_ms = 0.0
        self.outcome = Outcome.OK
        self.error: str | None = None
        self.result: Any = None
        self.incident_id: str | None = None
        self.anchors: list[str] = []
        self.hits: tuple[Any, ...] = ()  # pre-search hits shown to the tool
        self.trace = current_trace()

    def finish(self, outcome: Outcome, *, error: str | None = None, result: Any = None) -> ToolCall:
        """Stop the clock and record how the call ended; returns ``self``."""
        self.elapsed_ms = (time.perf_counter() - self.started_perf) * 1000
        self.outcome = outcome
        self.error = error
        self.result = result
        return self


def current_trace() -> tuple[int, int, int] | None:
    """(trace id, span id, flags) of the OpenTelemetry span current in this context, or None.

    Looked up only if the application has imported ``opentelemetry.trace`` itself: tooltrail
    never imports OpenTelemetry. Never raises (an odd tracer must not cost the call).
    """
    otel = sys.modules.get("opentelemetry.trace")
    if otel is None:
        return None
    try:
        ctx = otel.get_current_span().get_span_context()
        if ctx.is_valid and type(ctx.trace_id) is int and type(ctx.span_id) is int:
            return ctx.trace_id, ctx.span_id, int(ctx.trace_flags)
    except Exception:  # noqa: BLE001, S110 - no trace ids rather than a failed call
        pass
    return None


def summarize_result(result: Any, limits: RedactionLimits) -> str | None:
    """A redacted text of at most 1.5 KB (UTF-8) describing a tool's result. Never raises.

    MCP results (the SDK's wire dict or a fastmcp ``ToolResult``) give the text of their text
    and resource items, or, when there is none, their structured content; any other value
    gives its text, or the JSON of its redacted copy. Every text is redacted within its scan
    window first; only then is the summary cut.
    """
    if result is None:
        return None
    try:
        texts = _content_texts(result)
        if texts:
            parts: list[str] = []
            for text in texts:
                parts.append(redact_text(text, limits))
                if sum(map(len, parts)) > MAX_SUMMARY_BYTES:
                    break
            raw = "\n".join(parts)
        else:
            value = _structured(result)
            value = result if value is None else value
            raw = redact_text(value, limits) if isinstance(value, str) else _json(value, limits)
    except Exception:  # noqa: BLE001 - an odd result object must not cost the event
        raw = f"<{type(result).__name__} result>"
    return clip_utf8(raw, MAX_SUMMARY_BYTES)


def _content_texts(result: Any) -> list[str]:
    """Texts of an MCP result's content items (text items and embedded text resources)."""
    content = (
        result.get("content") if isinstance(result, Mapping) else getattr(result, "content", None)
    )
    texts: list[str] = []
    if not isinstance(content, list):
        return texts
    for item in content[:_MAX_CONTENT_ITEMS]:
        for holder in (item, _field(item, "resource")):
            text = _field(holder, "text")
            if isinstance(text, str):
                texts.append(text)
    return texts


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _structured(result: Any) -> Any:
    if isinstance(result, Mapping):
        return result.get("structuredContent")
    return getattr(result, "structured_content", None)


def _json(value: Any, limits: RedactionLimits) -> str:
    return orjson.dumps(redact(value, limits)).decode()


@lru_cache(maxsize=1024)
def _label(text: str, limit: int) -> str:
    """A name that leaves the process (tool, session, server, tags): redacted, then cut."""
    return redact_text(text)[:limit]


def build_event(call: ToolCall, settings: ProducerSettings, seq: int = 0) -> ToolExecutionEvent:
    """Redact, bound and validate one call into its wire event (runs off the call path).

    Every field that leaves the process goes through the one redaction engine: arguments,
    result, error, anchors, incident id, tool, session and server names and the tags.
    """
    limits = settings.redaction_limits.with_budget()  # one redaction budget for the event
    started = datetime.fromtimestamp(call.started_wall, tz=UTC)
    ended = datetime.fromtimestamp(call.started_wall + call.elapsed_ms / 1000, tz=UTC)
    args = redact(call.args, limits) if call.args is not None else {}
    error = call.error
    error = first_line(redact_text(error, limits), MAX_ERROR_SUMMARY_CHARS) if error else None
    anchors = tuple(
        redact_text(str(a), limits)[:MAX_ANCHOR_CHARS] for a in call.anchors[:MAX_ANCHORS]
    )
    incident = redact_text(call.incident_id, limits)[:200] if call.incident_id else None
    static = _static(settings)
    return ToolExecutionEvent(
        event_id=new_event_id(int(call.started_wall * 1000)),
        tool_id=_label(call.tool_id, 200) if call.tool_id else "unknown",
        op_type=call.op_type or classify_op(call.tool_id),
        session_id=_label(call.session_id, 200) if call.session_id else PROCESS_SESSION_ID,
        incident_id=incident,
        outcome=call.outcome,
        started_at=started,
        ended_at=ended,
        elapsed_ms=max(call.elapsed_ms, 0.0),
        error_summary=error,
        anchors=anchors,
        args=args if isinstance(args, dict) else {"value": args},
        result_summary=summarize_result(call.result, limits),
        tags=static.tags[call.outcome],
        flags=static.flags,
        server_name=static.server_name,
        server_host=static.server_host,
        producer_seq=seq,
        **_trace_fields(call.trace),
    )


def _trace_fields(trace: tuple[int, int, int] | None) -> dict[str, Any]:
    """The event's trace fields; ids out of the W3C ranges (an odd tracer) are left out."""
    if trace is None:
        return {}
    trace_id, span_id, flags = trace
    if not (0 < trace_id < 1 << 128 and 0 < span_id < 1 << 64):
        return {}
    return {
        "trace_id": f"{trace_id:032x}",
        "span_id": f"{span_id:016x}",
        "trace_flags": flags & 0xFF,
    }


class _Static:
    """What every event of one producer shares: redacted labels, tags per outcome, flags."""

    def __init__(self, settings: ProducerSettings) -> None:
        domain, env = _label(settings.domain, 64), _label(settings.environment, 64)
        self.tags = {
            o: Tags(domain=domain, environment=env, severity=_SEVERITY[o]) for o in Outcome
        }
        self.flags = flags_snapshot(settings)
        self.server_name = _label(settings.server_name, 200)
        self.server_host = _label(settings.server_host, 200)


_statics: dict[int, tuple[ProducerSettings, _Static]] = {}


def _static(settings: ProducerSettings) -> _Static:
    """The shared part for ``settings`` (settings objects are immutable once loaded).

    ``MCP_LOG_VERBOSE`` is read with it, once per settings object, not once per event.
    """
    known = _statics.get(id(settings))
    if known is not None and known[0] is settings:
        return known[1]
    static = _Static(settings)
    if len(_statics) > 64:  # tests and benchmarks build many settings objects
        _statics.clear()
    _statics[id(settings)] = (settings, static)
    return static


def producer_scope(settings: ProducerSettings) -> Scope:
    """The scope this producer's events carry (their tags), hence its cache keys' scope."""
    return event_scope(_static(settings).tags[Outcome.OK])


def flags_snapshot(settings: ProducerSettings) -> dict[str, bool]:
    """The seed's flag names and their values, copied into every event and metrics record."""
    return {
        "ENABLE_INSTRUMENTATION": settings.enable_instrumentation,
        "ENABLE_PRESEARCH": settings.enable_presearch,
        "STRICT_STDIO_LOGS": settings.strict_stdio_logs,
        "MCP_LOG_VERBOSE": os.environ.get("MCP_LOG_VERBOSE", "").lower() in ("1", "true", "yes"),
    }
