"""A tool server on fastmcp 4 whose every tool call becomes an event.

Start it through an MCP client over stdio (``client.py`` here does:
``python producer/examples/client.py producer/examples/fastmcp_server.py``). Settings come
from ``TOOLTRAIL_*`` variables; a worker (``tooltrail worker all``) turns the events into
metrics and memories.
"""

from __future__ import annotations

import os

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError

from tooltrail.producer import TrailProducer
from tooltrail.producer.middleware_fastmcp import TooltrailFastMCPMiddleware

os.environ.setdefault("FASTMCP_LOG_LEVEL", "WARNING")  # stderr quiet; stdout is the protocol's
trail = TrailProducer(server_name="oc-tools-fastmcp")  # settings from TOOLTRAIL_*
mcp = FastMCP("oc-tools", middleware=[TooltrailFastMCPMiddleware(trail)])


@mcp.tool
def oc_read_get_pods(namespace: str) -> str:
    """List the pods of a namespace."""
    return f"NAME    READY   STATUS    RESTARTS\nweb-1   1/1     Running   0   ({namespace})"


@mcp.tool
def oc_write_scale_deployment(namespace: str, deployment: str, replicas: int) -> str:
    """Scale a deployment; more than 10 replicas is refused (a tool error, recorded too)."""
    if replicas > 10:
        raise ToolError(f"replicas {replicas} exceeds the quota of 10 in {namespace}")
    return f"deployment.apps/{deployment} scaled to {replicas}"


def main() -> None:
    """Serve on stdio until the client disconnects; flush the events at exit."""
    trail.start()
    try:
        mcp.run("stdio", show_banner=False)
    finally:
        trail.close()


if __name__ == "__main__":
    main()
