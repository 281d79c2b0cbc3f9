"""Adapter for ``fastmcp`` 4.x: a ``Middleware`` whose ``on_call_tool`` records each call.

``FastMCP(name, middleware=[TooltrailFastMCPMiddleware(producer)])``. In fastmcp, tool
failures reach the hook as raised ``FastMCPError``/``NotFoundError`` (fastmcp later turns
them into ``isError`` results): those are ``tool_error``; any other exception is
``protocol_error``; cancellation is ``cancelled``. Everything is re-raised unchanged. The
event records what the tool raised, not fastmcp's wrapper around it (``ToolError("Error
calling tool …") from exc``, its text masked with ``mask_error_details``).
"""

from __future__ import annotations

from typing import Any

import mcp_types as mt
from fastmcp.exceptions import FastMCPError, NotFoundError, ToolError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import ToolResult
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from tooltrail.producer.calls import PROCESS_SESSION_ID
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.recorder import META_KEY, CallRecorder
from tooltrail.schemas.events import OpType, Outcome


def session_id_of(context: MiddlewareContext[Any]) -> str:
    """HTTP session header; fastmcp's session id on handshake-era connections; else per process.

    On protocol 2026-07-28 fastmcp invents a new id per request, so it is not used there.
    """
    fctx = context.fastmcp_context
    rc = getattr(fctx, "request_context", None) if fctx is not None else None
    if rc is None:
        return PROCESS_SESSION_ID
    headers = getattr(getattr(rc, "request", None), "headers", None)
    if headers is not None and (sid := headers.get("mcp-session-id")):
        return str(sid)
    if rc.protocol_version not in MODERN_PROTOCOL_VERSIONS and fctx is not None:
        return str(fctx.session_id)
    return PROCESS_SESSION_ID


class TooltrailFastMCPMiddleware(Middleware):
    """Records every tool call of a ``FastMCP`` server as one event."""

    def __init__(self, producer: TrailProducer, op_types: dict[str, OpType] | None = None) -> None:
        self._recorder = CallRecorder(producer, op_types)

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        """Time, classify and emit one tool call."""
        message = context.message
        call = self._recorder.begin(message.name, message.arguments, session_id_of(context))
        try:
            result = await call_next(context)
        except BaseException as exc:
            self._recorder.fail(
                call, exc, tool_errors=(FastMCPError, NotFoundError), wrappers=(ToolError,)
            )
            raise
        meta = self._recorder.presearch_meta(call)
        if meta is not None:  # opt-in: TOOLTRAIL_PRESEARCH_ATTACH_META
            try:
                result.meta = {**(result.meta or {}), META_KEY: meta}
            except Exception:  # noqa: BLE001 - attaching must never fail the tool call
                self._recorder.producer.count_internal_error()
        is_error = bool(getattr(result, "is_error", False))
        self._recorder.end(call, Outcome.TOOL_ERROR if is_error else Outcome.OK, result=result)
        return result
