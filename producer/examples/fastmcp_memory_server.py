"""A tool server on fastmcp 4 that also lets its agent search its memory.

Beside its own tools it offers ``memory_search`` (related past situations of this server's
scope: ``TOOLTRAIL_ENVIRONMENT`` / ``TOOLTRAIL_DOMAIN``) and ``memory_get_stats``, added in
one line. They read the Chroma server the memory worker writes to (``TOOLTRAIL_CHROMA_URL``,
with the workers' ``TOOLTRAIL_EMBEDDER``):
``python producer/examples/client.py producer/examples/fastmcp_memory_server.py``.
"""

from __future__ import annotations

import os

from fastmcp import FastMCP

from tooltrail.producer import TrailProducer
from tooltrail.producer.memory_tools import add_memory_tools
from tooltrail.producer.middleware_fastmcp import TooltrailFastMCPMiddleware

os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")  # stderr quiet; stdout is the protocol's
trail = TrailProducer(server_name="oc-tools-fastmcp")  # settings from TOOLTRAIL_*
mcp = FastMCP("oc-tools", middleware=[TooltrailFastMCPMiddleware(trail)])
add_memory_tools(mcp, trail)  # memory_search, memory_get_stats


@mcp.tool
def oc_read_get_pods(namespace: str) -> str:
    """List the pods of a namespace."""
    return f"NAME    READY   STATUS    RESTARTS\nweb-1   1/1     Running   0   ({namespace})"


def main() -> None:
    """Serve on stdio until the client disconnects; flush the events at exit."""
    trail.start()
    try:
        mcp.run("stdio", show_banner=False)
    finally:
        trail.close()


if __name__ == "__main__":
    main()
