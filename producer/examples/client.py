"""Call an example tool server's tools over stdio with the official SDK's client.

    python producer/examples/client.py producer/examples/mcp_server.py

The SDK starts the server with a minimal environment (``get_default_environment()``: HOME,
PATH, …), not this process's. Without passing them on, the server loses its ``TOOLTRAIL_*``
settings and sends its events to the default bootstrap (127.0.0.1:9092), so pass them.
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import get_default_environment, stdio_client


def server_environment() -> dict[str, str]:
    """The SDK's safe defaults plus every TOOLTRAIL_* variable of this process."""
    env = get_default_environment()
    env.update({k: v for k, v in os.environ.items() if k.startswith("TOOLTRAIL_")})
    return env


async def call_tools(server_script: str) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=[server_script], env=server_environment()
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        print("tools:", ", ".join(sorted(tool.name for tool in listed.tools)))
        pods = await session.call_tool("oc_read_get_pods", {"namespace": "payments"})
        text = next((item.text for item in pods.content if item.type == "text"), "")
        print("oc_read_get_pods:", text.splitlines()[-1])
        refused = await session.call_tool(
            "oc_write_scale_deployment",
            {"namespace": "payments", "deployment": "web", "replicas": 50},
        )
        print("oc_write_scale_deployment: is_error =", refused.is_error)


if __name__ == "__main__":
    asyncio.run(call_tools(sys.argv[1]))
