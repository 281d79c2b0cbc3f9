"""``CallRecorder``: the part every adapter shares — allowlist, kill switch, begin and end.

Both methods are safe on a tool call's path: O(1), no I/O, and they never raise (a failure
inside instrumentation is counted in ``internal_errors`` and the tool call goes on).
"""

from __future__ import annotations

import time
from typing import Any

from tooltrail.producer.calls import PROCESS_SESSION_ID, ToolCall
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.enrichment import set_current
from tooltrail.producer.hits import META_KEY, meta_of
from tooltrail.schemas.events import OpType, Outcome

__all__ = ["META_KEY", "CallRecorder", "failure_text"]
_MAX_CAUSES = 8  # a cause chain longer than this is not an SDK's wrapping


def failure_text(exc: BaseException, wrappers: tuple[type[BaseException], ...] = ()) -> str:
    """``Type: message`` of the exception a tool raised, looking through SDK ``wrappers``.

    The SDKs re-raise a tool's exception as their own (``raise ToolError("Error executing
    tool …") from exc``) and may mask its text; the cause is what the tool said. Redaction
    happens when the event is built, like every other field.
    """
    for _ in range(_MAX_CAUSES):
        cause = exc.__cause__
        if not isinstance(exc, wrappers) or cause is None:
            break
        exc = cause
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not cost the event
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class CallRecorder:
    """Start and finish ``ToolCall`` records for one producer."""

    def __init__(self, producer: TrailProducer, op_types: dict[str, OpType] | None = None) -> None:
        self.producer = producer
        self.settings = producer.settings
        self.op_types = op_types or {}

    def begin(self, tool_id: Any, args: Any, session_id: str | None = None) -> ToolCall | None:
        """Start timing a call, or return None if this tool is not instrumented."""
        try:
            name = tool_id if isinstance(tool_id, str) and tool_id else "unknown"
            if not self.settings.instruments(name):
                return None
            call = ToolCall(
                tool_id=name,
                args=args,
                session_id=session_id or PROCESS_SESSION_ID,
                op_type=self.op_types.get(name),
            )
            cache = self.producer.enrichment
            if cache is not None:
                t0 = time.perf_counter_ns()
                hits = cache.lookup(name, args)
                us = (time.perf_counter_ns() - t0) // 1000
                call.presearch = f"presearch:hits={len(hits)};us={us}"
                call.hits = hits
                set_current(hits)
        except Exception:  # noqa: BLE001 - instrumentation must never fail a tool call
            self.producer.count_internal_error()
            return None
        return call

    def end(
        self,
        call: ToolCall | None,
        outcome: Outcome,
        *,
        error: BaseException | str | None = None,
        result: Any = None,
    ) -> None:
        """Stop the clock, classify and emit. Never raises."""
        if call is None:
            return
        try:
            text = None
            if error is not None:
                text = error if isinstance(error, str) else failure_text(error)
            self.producer.emit(call.finish(outcome, error=text, result=result))
        except Exception:  # noqa: BLE001 - instrumentation must never fail a tool call
            self.producer.count_internal_error()

    def fail(
        self,
        call: ToolCall | None,
        exc: BaseException,
        *,
        tool_errors: tuple[type[BaseException], ...] = (),
        other: Outcome = Outcome.PROTOCOL_ERROR,
        error: str | None = None,
        result: Any = None,
        wrappers: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Record a call that raised: ``tool_errors`` → tool_error, any other ``Exception`` →
        ``other``, anything else (cancellation, exit) → cancelled. The caller re-raises.

        ``wrappers`` are the SDK's own exception types around what the tool raised (their
        ``__cause__``): the event records the tool's exception, not the SDK's wrapper."""
        if isinstance(exc, tool_errors):
            outcome = Outcome.TOOL_ERROR
        elif isinstance(exc, Exception):
            outcome = other
        else:
            outcome = Outcome.CANCELLED
        if error is None:
            error = failure_text(exc, wrappers)
        self.end(call, outcome, error=error, result=result)

    def presearch_meta(self, call: ToolCall | None) -> dict[str, Any] | None:
        """The hits to attach to the MCP result's ``_meta`` (marked untrusted, ``hits.meta_of``),
        if the setting asks for it."""
        if call is None or not call.hits or not self.settings.presearch_attach_meta:
            return None
        return meta_of(call.hits)
