"""What adapters record per tool call, and the redacted parts every event is built from.

An adapter creates a ``ToolCall`` (a slots class holding references) when the call starts and
finishes it when the tool returns; right then, on the same thread, ``event_bytes`` turns it
into the record's bytes (``redact_call`` here: arguments, result, error, anchors, all within
one redaction budget; ``static_parts``: what every event of one producer shares). Raw
arguments therefore never leave the thread that made the call. ``build_event`` builds the
same event as a pydantic model: the reference the fast path is tested against, and what
tools that want a model (benchmarks, replay tests) use.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

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
from tooltrail.schemas.headers import event_header_prefix
from tooltrail.schemas.ids import new_event_id
from tooltrail.schemas.keys import Scope, event_scope
from tooltrail.schemas.redact import RedactionLimits, redact, redact_text
from tooltrail.schemas.redact.budget import CLOCKED_CHARS, cpu_ns_of
from tooltrail.schemas.redact.engine import window_unchanged
from tooltrail.schemas.wire import MAX_ELAPSED_MS

_CLEAN_ARGS: dict[tuple[Any, ...], None] = {}
_CLEAN_ARGS_MAX = 4096
_CLEAN_ARGS_WIDTH = 16  # keys
_CLEAN_ARGS_CHARS = 256  # per value
#: Calls outside the wire's years (1970 to 2199) cannot be events; the clock is wrong.
_MAX_WALL = 7_258_118_400.0

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
        "presearch",
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
        self.presearch: str | None = None  # our own anchor (numbers only): not redacted
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
        if len(texts) == 1:  # the usual result: one text item
            raw = redact_text(texts[0], limits)
        elif texts:
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
    content = _field(result, "content")
    texts: list[str] = []
    if not isinstance(content, list):
        return texts
    for item in content[:_MAX_CONTENT_ITEMS]:
        text = _field(item, "text")
        if isinstance(text, str):
            texts.append(text)
        resource = _field(item, "resource")
        if resource is not None:
            text = _field(resource, "text")
            if isinstance(text, str):
                texts.append(text)
    return texts


def _field(obj: Any, name: str) -> Any:
    # a plain dict first (the mcp SDK's wire results): the Mapping ABC check is slower
    if obj is None:
        return None
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _structured(result: Any) -> Any:
    if type(result) is dict or isinstance(result, Mapping):
        return result.get("structuredContent")
    return getattr(result, "structured_content", None)


def _json(value: Any, limits: RedactionLimits) -> str:
    return orjson.dumps(redact(value, limits)).decode()


@lru_cache(maxsize=1024)
def _label(text: str, limit: int) -> str:
    """A name that leaves the process (tool, session, server, tags): redacted, then cut."""
    return redact_text(text)[:limit]


class Redacted(NamedTuple):
    """The parts of one call that went through redaction (one budget for all of them)."""

    args: dict[str, Any]
    error: str | None
    anchors: tuple[str, ...]
    incident: str | None
    summary: str | None


def redact_call(call: ToolCall, settings: ProducerSettings) -> Redacted:
    """Redact and bound every free-form part of ``call`` within one redaction budget.

    Raises ``ValueError`` for a call no event can describe (a clock outside the wire's years,
    a call longer than a week): the caller counts it, the tool call never sees it.
    """
    wall, elapsed = call.started_wall, call.elapsed_ms
    if not (wall >= 0 and 0 <= elapsed <= MAX_ELAPSED_MS and wall + elapsed / 1000 < _MAX_WALL):
        raise ValueError("startedAt or elapsedMs out of the wire's range")
    limits = static_parts(settings).limits.with_budget()
    args = redact_args(call.args, limits)
    error = call.error
    error = first_line(redact_text(error, limits), MAX_ERROR_SUMMARY_CHARS) if error else None
    own = (call.presearch,) if call.presearch else ()
    anchors = (
        own
        + tuple(
            redact_text(str(a), limits)[:MAX_ANCHOR_CHARS]
            for a in call.anchors[: MAX_ANCHORS - len(own)]
        )
        if call.anchors
        else own
    )
    incident = redact_text(call.incident_id, limits)[:200] if call.incident_id else None
    return Redacted(
        args if isinstance(args, dict) else {"value": args},
        error,
        anchors,
        incident,
        summarize_result(call.result, limits),
    )


def clean_parts(call: ToolCall, limits: RedactionLimits) -> Redacted | None:
    """What ``redact_call`` gives for the most common call, found without running the rules;
    None for any other call (which then goes through ``redact_call``).

    The most common call: no error, anchors or incident id; arguments that are a small flat
    mapping of short strings redaction already found clean (``redact_args``' prefilter), or
    none; a result that is one ASCII text (an MCP result with one text item, or a string)
    within the scan window and budget of ``limits`` that the passes would leave as it is
    (``engine.window_unchanged``: the redaction gate finds nothing in it). Such a call's
    redaction changes nothing, so its parts are the call's own (the result cut to the
    summary's 1.5 KB, as ``summarize_result`` cuts it); the property test in
    ``tests/unit/test_clean_parts.py`` holds this to ``redact_call`` for generated calls.
    One function instead of the dozen the general path runs: inside a busy server each of
    them is a cold piece of code (README, "The call pays for its own event").
    """
    if call.error is not None or call.anchors or call.incident_id is not None:
        return None
    wall, elapsed = call.started_wall, call.elapsed_ms
    if not (wall >= 0 and 0 <= elapsed <= MAX_ELAPSED_MS and wall + elapsed / 1000 < _MAX_WALL):
        return None
    args = call.args
    if args is not None:
        key = _clean_key(args, limits)
        if key is None or key not in _CLEAN_ARGS:
            return None
    result = call.result
    text: str | None = None
    if type(result) is str:
        text = result
    elif result is not None:
        try:
            texts = _content_texts(result)
        except Exception:  # noqa: BLE001 - an odd result object: the general path copes
            return None
        if len(texts) != 1:
            return None
        text = texts[0]
    if text is not None:
        size = len(text)
        if not (
            size <= limits.scan_window
            and size <= limits.max_scan_chars
            and (size < CLOCKED_CHARS or cpu_ns_of(limits.max_cpu_ms) != 0)
            and text.isascii()
            and window_unchanged(text)
        ):
            return None
        text = clip_utf8(text, MAX_SUMMARY_BYTES)
    own = (call.presearch,) if call.presearch else ()
    return Redacted(dict(args) if args is not None else {}, None, own, None, text)


def redact_args(args: Any, limits: RedactionLimits) -> Any:
    """``redact(args)``, with a prefilter for the common case: a small flat mapping of short
    strings that redaction already found clean (tools are called with the same namespace,
    city or pod again and again) is copied as it is, without running the rules again.

    Only arguments whose redaction changed nothing are remembered (never a secret), keyed
    with the bounds they were judged under; bounded, oldest out first.
    """
    if args is None:
        return {}
    key = _clean_key(args, limits)
    if key is not None and key in _CLEAN_ARGS:
        return dict(args)
    out = redact(args, limits)
    if key is not None and type(out) is dict and list(out.items()) == list(args.items()):
        _CLEAN_ARGS[key] = None
        if len(_CLEAN_ARGS) > _CLEAN_ARGS_MAX:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # racing eviction
                del _CLEAN_ARGS[next(iter(_CLEAN_ARGS))]
    return out


def _clean_key(args: Any, limits: RedactionLimits) -> tuple[Any, ...] | None:
    """The prefilter's key for ``args``, or None if they are not a small flat str mapping."""
    if type(args) is not dict or len(args) > _CLEAN_ARGS_WIDTH:
        return None
    for name, value in args.items():
        if type(name) is not str or type(value) is not str or len(value) > _CLEAN_ARGS_CHARS:
            return None
    return (limits.max_string, limits.max_items, limits.max_depth, *args.items())


def tool_label(call: ToolCall) -> str:
    """The redacted tool id of ``call`` (``unknown`` if it has none)."""
    return _label(call.tool_id, 200) if call.tool_id else "unknown"


def session_label(call: ToolCall) -> str:
    """The redacted session id of ``call`` (the process's id if it has none)."""
    return _label(call.session_id, 200) if call.session_id else PROCESS_SESSION_ID


def build_event(call: ToolCall, settings: ProducerSettings, seq: int = 0) -> ToolExecutionEvent:
    """Redact, bound and validate one call into its wire event as a pydantic model.

    Every field that leaves the process goes through the one redaction engine: arguments,
    result, error, anchors, incident id, tool, session and server names and the tags. The
    hot path builds the same bytes without the model (``event_bytes.build_record``).
    """
    parts = redact_call(call, settings)
    started = datetime.fromtimestamp(call.started_wall, tz=UTC)
    ended = datetime.fromtimestamp(call.started_wall + call.elapsed_ms / 1000, tz=UTC)
    static = static_parts(settings)
    return ToolExecutionEvent(
        event_id=new_event_id(int(call.started_wall * 1000)),
        tool_id=tool_label(call),
        op_type=call.op_type or classify_op(call.tool_id),
        session_id=session_label(call),
        incident_id=parts.incident,
        outcome=call.outcome,
        started_at=started,
        ended_at=ended,
        elapsed_ms=call.elapsed_ms,
        error_summary=parts.error,
        anchors=parts.anchors,
        args=parts.args,
        result_summary=parts.summary,
        tags=static.tags[call.outcome],
        flags=static.flags,
        server_name=static.server_name,
        server_host=static.server_host,
        producer_seq=seq,
        **trace_fields(call.trace),
    )


def trace_fields(trace: tuple[int, int, int] | None) -> dict[str, Any]:
    """The event's trace fields as model keyword arguments (none for no or odd ids)."""
    ids = trace_ids(trace)
    if ids is None:
        return {}
    return {"trace_id": ids[0], "span_id": ids[1], "trace_flags": ids[2]}


def trace_ids(trace: tuple[int, int, int] | None) -> tuple[str, str, int] | None:
    """Trace id, span id and flags as the wire writes them; ids out of the W3C ranges (an odd
    tracer) are left out."""
    if trace is None:
        return None
    trace_id, span_id, flags = trace
    if not (0 < trace_id < 1 << 128 and 0 < span_id < 1 << 64):
        return None
    return f"{trace_id:032x}", f"{span_id:016x}", flags & 0xFF


class StaticParts:
    """What every event of one producer shares: redacted labels, tags per outcome, flags."""

    def __init__(self, settings: ProducerSettings) -> None:
        domain, env = _label(settings.domain, 64), _label(settings.environment, 64)
        self.tags = {
            o: Tags(domain=domain, environment=env, severity=_SEVERITY[o]) for o in Outcome
        }
        self.flags = flags_snapshot(settings)
        self.server_name = _label(settings.server_name, 200)
        self.server_host = _label(settings.server_host, 200)
        #: built once: the settings property makes a new object on every read
        self.limits = settings.redaction_limits
        #: wire forms, encoded once (``event_bytes`` embeds them as they are)
        self.wire_tags = {
            o: orjson.Fragment(orjson.dumps(t.model_dump(mode="json", by_alias=True)))
            for o, t in self.tags.items()
        }
        self.wire_flags = orjson.Fragment(orjson.dumps(self.flags))
        #: the record headers every event shares (fixed ones and ``ce_source``)
        self.header_prefix = event_header_prefix(self.server_name)


_statics: dict[int, tuple[ProducerSettings, StaticParts]] = {}


def static_parts(settings: ProducerSettings) -> StaticParts:
    """The shared part for ``settings`` (settings objects are immutable once loaded)."""
    known = _statics.get(id(settings))
    if known is not None and known[0] is settings:
        return known[1]
    static = StaticParts(settings)
    if len(_statics) > 64:  # tests and benchmarks build many settings objects
        _statics.clear()
    _statics[id(settings)] = (settings, static)
    return static


def producer_scope(settings: ProducerSettings) -> Scope:
    """The scope this producer's events carry (their tags), hence its cache keys' scope."""
    return event_scope(static_parts(settings).tags[Outcome.OK])


def flags_snapshot(settings: ProducerSettings) -> dict[str, bool]:
    """The seed's flag names and their values, copied into every event and metrics record."""
    return {
        "ENABLE_INSTRUMENTATION": settings.enable_instrumentation,
        "ENABLE_PRESEARCH": settings.enable_presearch,
        "STRICT_STDIO_LOGS": settings.strict_stdio_logs,
        "MCP_LOG_VERBOSE": settings.mcp_log_verbose,
    }
