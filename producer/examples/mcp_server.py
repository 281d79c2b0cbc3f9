"""A tool server on the official MCP SDK (mcp 2.3) whose every tool call becomes an event.

Start it through an MCP client over stdio (``client.py`` here does:
``python producer/examples/client.py producer/examples/mcp_server.py``). Its settings come
from ``TOOLTRAIL_*`` variables, ``TOOLTRAIL_KAFKA_BOOTSTRAP`` first. Events reach the topic
while no worker runs, but become metrics and memories only once one does:
``tooltrail worker all`` (or ``tooltrail up``) beside it.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tooltrail.producer import TrailProducer
from tooltrail.producer.middleware_mcp import TooltrailMiddleware

trail = TrailProducer(server_name="oc-tools")  # settings from TOOLTRAIL_*
server = MCPServer("oc-tools", log_level="WARNING", middleware=[TooltrailMiddleware(trail)])


@server.tool()
def oc_read_get_pods(namespace: str) -> str:
    """List the pods of a namespace."""
    return f"NAME    READY   STATUS    RESTARTS\nweb-1   1/1     Running   0   ({namespace})"


@server.tool()
def oc_write_scale_deployment(namespace: str, deployment: str, replicas: int) -> str:
    """Scale a deployment; more than 10 replicas is refused (a tool error, recorded too)."""
    if replicas > 10:
        raise ToolError(f"replicas {replicas} exceeds the quota of 10 in {namespace}")
    return f"deployment.apps/{deployment} scaled to {replicas}"


def main() -> None:
    """Serve on stdio until the client disconnects; flush the events at exit."""
    trail.start()  # returns at once, even when Kafka is down (events wait in the outbox)
    try:
        server.run("stdio")
    finally:
        trail.close()


if __name__ == "__main__":
    main()
