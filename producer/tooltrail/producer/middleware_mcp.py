"""Adapter for the official ``mcp`` SDK 2.x: a ``ServerMiddleware`` for ``MCPServer``.

``MCPServer(..., middleware=[TooltrailMiddleware(producer)])``. It sees every inbound
message and passes anything but ``tools/call`` straight through. Outcomes follow the SDK's
own telemetry: an ``isError`` result is ``tool_error``; a raised ``MCPError`` or any other
exception is ``protocol_error``; cancellation is ``cancelled``. The result (or exception)
is returned (re-raised) exactly as the tool produced it. The SDK marks this hook
provisional, hence the ``mcp>=2.3,<2.4`` pin.

**The real failure reason.** The SDK turns a tool's exception into an ``isError`` result
before the middleware sees it, and a crash's text into just ``Error executing tool <name>``.
The exception itself only reaches the SDK's log (``logger.exception`` in its call handler),
so a logger filter, put first on that logger, hands it to the call that is running (a
context variable set around ``call_next``): the event records ``ValueError: unknown city …``
(redacted when the event is built). Without that log record (the logger switched off), the
result's text is recorded.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from tooltrail.producer.calls import PROCESS_SESSION_ID
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.recorder import META_KEY, CallRecorder, failure_text
from tooltrail.schemas.events import OpType, Outcome

#: The logger the SDK's call handler logs a tool's exception on (``MCPServer._handle_call_tool``).
SDK_CALL_LOGGER = "mcp.server.mcpserver.server"
#: Where the running call collects the exceptions its tool raised (see module docstring).
_raised: ContextVar[list[BaseException] | None] = ContextVar("tooltrail_mcp_raised", default=None)


class _RaisedCatcher(logging.Filter):
    """Hands the exception of an SDK log record to the call running in this context."""

    def filter(self, record: logging.LogRecord) -> bool:
        cell = _raised.get()
        info = record.exc_info
        if cell is not None and info and info[1] is not None and len(cell) < 4:
            cell.append(info[1])
        return True


def _install_catcher() -> None:
    """Put the catcher first on the SDK's logger (before any filter that drops ``exc_info``)."""
    logger = logging.getLogger(SDK_CALL_LOGGER)
    if not any(isinstance(f, _RaisedCatcher) for f in logger.filters):
        logger.filters.insert(0, _RaisedCatcher())


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
        _install_catcher()

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        """Time, classify and emit one tool call; pass every other message through."""
        if ctx.method != "tools/call":
            return await call_next(ctx)
        params = ctx.params or {}
        call = self._recorder.begin(params.get("name"), params.get("arguments"), session_id_of(ctx))
        raised: list[BaseException] = []
        token = _raised.set(raised)
        try:
            result = await call_next(ctx)
        except BaseException as exc:
            code = f"MCPError {exc.error.code}: {exc}" if isinstance(exc, MCPError) else None
            self._recorder.fail(call, exc, error=code)
            raise
        finally:
            _raised.reset(token)
        meta = self._recorder.presearch_meta(call)
        if meta is not None and isinstance(result, dict):  # opt-in: TOOLTRAIL_PRESEARCH_ATTACH_META
            result.setdefault("_meta", {})[META_KEY] = meta
        is_error = isinstance(result, dict) and bool(result.get("isError"))
        self._recorder.end(
            call,
            Outcome.TOOL_ERROR if is_error else Outcome.OK,
            error=_failure(raised, result) if is_error else None,
            result=result,
        )
        return result


def _failure(raised: list[BaseException], result: Any) -> str | None:
    """What the tool raised (see module docstring), else the text of the error result."""
    if raised:
        return failure_text(raised[-1], (ToolError,))
    return _first_text(result)


def _first_text(result: Any) -> str | None:
    for item in result.get("content") or []:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            return str(item["text"])
    return None
