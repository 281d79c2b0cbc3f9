"""``tooltrail demo-server``: the demo tools over stdio, on the mcp or fastmcp SDK.

Instrumented by ``TooltrailMiddleware`` (mcp) or ``TooltrailFastMCPMiddleware`` (fastmcp)
unless ``instrument=False`` (the baseline for comparisons). Settings come from the
environment (``TOOLTRAIL_*``). Logs go to stderr; stdout carries only the protocol.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any

from tooltrail.consumers.app.demo.tools import TOOLS, ToolFailure
from tooltrail.producer.emitter import TrailProducer


def _as_sdk_error(func: Callable[..., Awaitable[str]], error: type[Exception]) -> Any:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> str:
        try:
            return await func(*args, **kwargs)
        except ToolFailure as exc:
            raise error(str(exc)) from None

    return wrapper


def build_mcp(producer: TrailProducer | None) -> Any:
    """An ``MCPServer`` with the demo tools (and the tooltrail middleware if ``producer``)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from tooltrail.producer.middleware_mcp import TooltrailMiddleware

    middleware = [TooltrailMiddleware(producer)] if producer is not None else []
    server = MCPServer("tooltrail-demo", log_level="WARNING", middleware=middleware)
    for tool in TOOLS:
        server.tool()(_as_sdk_error(tool, ToolError))
    return server


def build_fastmcp(producer: TrailProducer | None) -> Any:
    """A ``FastMCP`` server with the demo tools (and the tooltrail middleware if ``producer``)."""
    from fastmcp import FastMCP
    from fastmcp.exceptions import ToolError

    from tooltrail.producer.middleware_fastmcp import TooltrailFastMCPMiddleware

    middleware = [TooltrailFastMCPMiddleware(producer)] if producer is not None else []
    server = FastMCP("tooltrail-demo", middleware=middleware)
    for tool in TOOLS:
        server.tool(_as_sdk_error(tool, ToolError))
    return server


def run(sdk: str, *, instrument: bool = True) -> int:
    """Serve the demo tools on stdio until the client disconnects; flush events at exit."""
    os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")  # keep stderr quiet, stdout is the wire
    producer = TrailProducer(server_name="tooltrail-demo").start() if instrument else None
    try:
        if sdk == "fastmcp":
            build_fastmcp(producer).run("stdio", show_banner=False)
        else:
            build_mcp(producer).run("stdio")
    finally:
        if producer is not None:
            producer.close()
    return 0
