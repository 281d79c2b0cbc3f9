"""Adapter for the official ``mcp`` SDK 2.x: a ``ServerMiddleware`` for ``MCPServer``.

``MCPServer(..., middleware=[TooltrailMiddleware(producer)])``. It sees every inbound
message and passes anything but ``tools/call`` straight through. Outcomes follow the SDK's
own telemetry: an ``isError`` result is ``tool_error``; a raised ``MCPError`` or any other
exception is ``protocol_error``; cancellation is ``cancelled``. The result (or exception)
is returned (re-raised) exactly as the tool produced it. The SDK marks this hook
provisional, hence the ``mcp>=2.3,<2.4`` pin.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError

from tooltrail.producer.calls import PROCESS_SESSION_ID
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.recorder import META_KEY, CallRecorder
from tooltrail.schemas.events import OpType, Outcome


def session_id_of(ctx: ServerRequestContext[Any, Any]) -> str:
    """The transport session id (HTTP header or SDK connection), else one id per process."""
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is not None and (sid := headers.get("mcp-session-id")):
        return str(sid)
    connection = getattr(ctx.session, "_connection", None)  # no public accessor in 2.3
    sid = getattr(connection, "session_id", None)
    return str(sid) if sid else PROCESS_SESSION_ID


class TooltrailMiddleware:
    """Records every ``tools/call`` of an ``MCPServer`` as one event."""

    def __init__(self, producer: TrailProducer, op_types: dict[str, OpType] | None = None) -> None:
        self._recorder = CallRecorder(producer, op_types)

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """Time, classify and emit one tool call; pass every other message through."""
        if ctx.method != "tools/call":
            return await call_next(ctx)
        params = ctx.params or {}
        call = self._recorder.begin(params.get("name"), params.get("arguments"), session_id_of(ctx))
        try:
            result = await call_next(ctx)
        except BaseException as exc:
            code = f"MCPError {exc.error.code}: {exc}" if isinstance(exc, MCPError) else None
            self._recorder.fail(call, exc, error=code)
            raise
        meta = self._recorder.presearch_meta(call)
        if meta is not None and isinstance(result, dict):  # opt-in: TOOLTRAIL_PRESEARCH_ATTACH_META
            result.setdefault("_meta", {})[META_KEY] = meta
        is_error = isinstance(result, dict) and bool(result.get("isError"))
        self._recorder.end(
            call,
            Outcome.TOOL_ERROR if is_error else Outcome.OK,
            error=_first_text(result) if is_error else None,
            result=result,
        )
        return result


def _first_text(result: Any) -> str | None:
    for item in result.get("content") or []:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            return str(item["text"])
    return None
