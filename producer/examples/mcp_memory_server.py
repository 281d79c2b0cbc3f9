"""A tool server on the official MCP SDK that also lets its agent search its memory.

Beside its own tools it offers ``memory_search`` (related past situations of this server's
scope: ``TOOLTRAIL_ENVIRONMENT`` / ``TOOLTRAIL_DOMAIN``) and ``memory_get_stats``, added in
one line. They read the Chroma server the memory worker writes to (``TOOLTRAIL_CHROMA_URL``,
with the workers' ``TOOLTRAIL_EMBEDDER``):
``python producer/examples/client.py producer/examples/mcp_memory_server.py``.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from tooltrail.producer import TrailProducer
from tooltrail.producer.memory_tools import add_memory_tools
from tooltrail.producer.middleware_mcp import TooltrailMiddleware

trail = TrailProducer(server_name="oc-tools")  # settings from TOOLTRAIL_*
server = MCPServer("oc-tools", log_level="WARNING", middleware=[TooltrailMiddleware(trail)])
add_memory_tools(server, trail)  # memory_search, memory_get_stats


@server.tool()
def oc_read_get_pods(namespace: str) -> str:
    """List the pods of a namespace."""
    return f"NAME    READY   STATUS    RESTARTS\nweb-1   1/1     Running   0   ({namespace})"


def main() -> None:
    """Serve on stdio until the client disconnects; flush the events at exit."""
    trail.start()
    try:
        server.run("stdio")
    finally:
        trail.close()


if __name__ == "__main__":
    main()
