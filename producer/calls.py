"""What adapters record per tool call, and how a record becomes a ``ToolExecutionEvent``.

On the call path an adapter only creates a ``ToolCall`` (a slots dataclass holding references)
and hands it to ``TrailProducer.emit``. Redaction of arguments and result, summarising and
validation happen in ``build_event``, which the sender thread runs off the call path. Raw
arguments therefore live only in this process's memory until they are redacted.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from producer.settings import ProducerSettings
from schemas.base import MAX_ERROR_SUMMARY_CHARS, MAX_SUMMARY_BYTES, clip_utf8, first_line
from schemas.events import OpType, Outcome, Severity, Tags, ToolExecutionEvent
from schemas.ids import new_event_id
from schemas.redact import RedactionLimits, redact, redact_text

#: One id per process: a stdio server serves exactly one client.
PROCESS_SESSION_ID = f"proc-{uuid.uuid4().hex[:12]}"
_OP_WORDS: tuple[tuple[OpType, re.Pattern[str]], ...] = (
    (OpType.DIAGNOSTIC, re.compile(r"(^|_)(diag|diagnostic|health|check|debug|inspect)(_|$)")),
    (OpType.WRITE, re.compile(
        r"(^|_)(write|create|delete|apply|patch|scale|restart|rollout|update|set|drain|cordon)(_|$)"
    )),
    (OpType.READ, re.compile(r"(^|_)(read|get|list|describe|logs|show|search|watch|top)(_|$)")),
    (OpType.MEMORY, re.compile(r"(^|_)(memory|remember|recall)(_|$)")),
    (OpType.WORKFLOW, re.compile(r"(^|_)(workflow|runbook|plan|pipeline)(_|$)")),
)  # fmt: skip
_SEVERITY = {
    Outcome.OK: Severity.INFO,
    Outcome.CANCELLED: Severity.WARNING,
    Outcome.TOOL_ERROR: Severity.ERROR,
    Outcome.PROTOCOL_ERROR: Severity.ERROR,
}


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

    __slots__ = ("anchors", "args", "elapsed_ms", "error", "hits", "incident_id", "op_type",
                 "outcome", "result", "session_id", "started_perf", "started_wall",
                 "tool_id")  # fmt: skip

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

    def finish(self, outcome: Outcome, *, error: str | None = None, result: Any = None) -> ToolCall:
        """Stop the clock and record how the call ended; returns ``self``."""
        self.elapsed_ms = (time.perf_counter() - self.started_perf) * 1000
        self.outcome = outcome
        self.error = error
        self.result = result
        return self


def summarize_result(result: Any, limits: RedactionLimits) -> str | None:
    """A redacted text of at most 1.5 KB describing a tool's result (MCP content or any value)."""
    if result is None:
        return None
    texts: list[str] = []
    content = (
        result.get("content") if isinstance(result, Mapping) else getattr(result, "content", None)
    )
    if isinstance(content, list):
        for item in content:
            text = item.get("text") if isinstance(item, Mapping) else getattr(item, "text", None)
            if isinstance(text, str):
                texts.append(text)
    raw = "\n".join(texts) if texts else (result if isinstance(result, str) else repr(result))
    return clip_utf8(redact_text(raw[: limits.scan_window]), MAX_SUMMARY_BYTES)


def build_event(call: ToolCall, settings: ProducerSettings, seq: int = 0) -> ToolExecutionEvent:
    """Redact, bound and validate one call into its wire event (runs off the call path)."""
    limits = settings.redaction_limits
    started = datetime.fromtimestamp(call.started_wall, tz=UTC)
    ended = datetime.fromtimestamp(call.started_wall + call.elapsed_ms / 1000, tz=UTC)
    args = redact(call.args, limits) if call.args is not None else {}
    error = first_line(redact_text(call.error), MAX_ERROR_SUMMARY_CHARS) if call.error else None
    return ToolExecutionEvent(
        event_id=new_event_id(int(call.started_wall * 1000)),
        tool_id=call.tool_id[:200] or "unknown",
        op_type=call.op_type or classify_op(call.tool_id),
        session_id=call.session_id[:200] or PROCESS_SESSION_ID,
        incident_id=call.incident_id[:200] if call.incident_id else None,
        outcome=call.outcome,
        started_at=started,
        ended_at=ended,
        elapsed_ms=max(call.elapsed_ms, 0.0),
        error_summary=error,
        anchors=tuple(a[:200] for a in call.anchors[:32]),
        args=args if isinstance(args, dict) else {"value": args},
        result_summary=summarize_result(call.result, limits),
        tags=Tags(
            domain=settings.domain,
            environment=settings.environment,
            severity=_SEVERITY[call.outcome],
        ),
        flags=flags_snapshot(settings),
        server_name=settings.server_name[:200],
        server_host=settings.server_host[:200],
        producer_seq=seq,
    )


def flags_snapshot(settings: ProducerSettings) -> dict[str, bool]:
    """The seed's flag names and their values, copied into every event and metrics record."""
    return {
        "ENABLE_INSTRUMENTATION": settings.enable_instrumentation,
        "ENABLE_PRESEARCH": settings.enable_presearch,
        "STRICT_STDIO_LOGS": settings.strict_stdio_logs,
        "MCP_LOG_VERBOSE": os.environ.get("MCP_LOG_VERBOSE", "").lower() in ("1", "true", "yes"),
    }
