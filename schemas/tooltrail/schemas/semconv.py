"""An event's fields under OpenTelemetry's MCP and GenAI semantic-convention names.

``otel_attributes`` gives what an OTel user would search a span for (``gen_ai.tool.name``,
``mcp.session.id``, ``error.type`` …), so a consumer can turn events into spans or logs,
or join them to the traces of the calls. ``error.type`` follows the mcp SDK's own
instrumentation: ``tool_error`` for a tool that reported an error, the JSON-RPC code for an
``MCPError``, else the exception's type name (``_OTHER`` when the event does not name it).
"""

from __future__ import annotations

import re

from tooltrail.schemas.events import Outcome, ToolExecutionEvent

_MCP_ERROR = re.compile(r"^MCPError (-?\d+):")
_TYPE_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*):")
Attribute = str | int | float | bool


def error_type(event: ToolExecutionEvent) -> str | None:
    """The ``error.type`` of the call, or None if it succeeded."""
    if event.outcome == Outcome.OK:
        return None
    if event.outcome == Outcome.TOOL_ERROR:
        return "tool_error"
    summary = event.error_summary or ""
    if match := _MCP_ERROR.match(summary):
        return match.group(1)
    if match := _TYPE_NAME.match(summary):
        return match.group(1)
    return "_OTHER"


def otel_attributes(event: ToolExecutionEvent) -> dict[str, Attribute]:
    """The event as semantic-convention attributes (only those it can fill)."""
    attributes: dict[str, Attribute] = {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": event.tool_id,
        "mcp.session.id": event.session_id,
        "service.name": event.server_name,
        "host.name": event.server_host,
    }
    if (kind := error_type(event)) is not None:
        attributes["error.type"] = kind
    if event.trace_id and event.span_id:
        attributes["trace_id"] = event.trace_id
        attributes["span_id"] = event.span_id
    return attributes
