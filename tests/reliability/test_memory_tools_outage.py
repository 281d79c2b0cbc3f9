"""The memory tools while their Chroma hangs, dies and comes back, through the SDK's client.

A hung Chroma (SIGSTOP) gives ``memory unavailable`` at the tool deadline while the server
keeps answering other tools; once it resumes, searches answer again. A stopped Chroma gives
a clean error at once; restarted on the same port and data, the next search reconnects.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Names
from tests.integration.test_memory_tools_stdio import OOM, _seed
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.producer import TrailProducer
from tooltrail.producer.memory_settings import MemoryToolSettings
from tooltrail.producer.memory_tools import add_memory_tools

pytestmark = pytest.mark.reliability
TIMEOUT_S = 1.5
HUNG = f"no answer from memory within {TIMEOUT_S:g} s"
TIMED_OUT = "memory unavailable: search failed: ReadTimeout: timed out"


def _text(res: Any) -> str:
    return "".join(c.text for c in res.content if c.type == "text")


@pytest.mark.timeout(240)
async def test_a_hung_or_dead_chroma_gives_clean_errors_and_searches_resume(
    names: Names, tmp_path: Path
) -> None:
    import mcp
    from mcp.server.mcpserver import MCPServer

    chroma = ChromaServer(tmp_path / "chroma", tmp_path / "chroma.log").start()
    trail = TrailProducer(
        kafka_bootstrap="memory://memory-tools-outage",
        outbox_dir=tmp_path / "outbox",
        enable_presearch=False,
        environment="prod",
        domain="openshift",
    )
    server = MCPServer("t", log_level="WARNING")
    tools = add_memory_tools(
        server,
        trail,
        MemoryToolSettings(
            chroma_url=chroma.url,
            chroma_collection=names.collection,
            embedder="hashing",
            memory_tools_timeout_s=TIMEOUT_S,
        ),
    )

    @server.tool()
    def ping() -> str:
        """Answer at once."""
        return "pong"

    search = {"query": "payments api OutOfMemoryError"}
    try:
        _seed(chroma, names.collection, "hashing")
        async with mcp.Client(server) as client:
            res = await client.call_tool("memory_search", search)
            assert not res.is_error, _text(res)
            assert res.structured_content["hits"][0]["salient"] == OOM

            chroma.signal(signal.SIGSTOP)
            try:
                res = await client.call_tool("memory_search", search)  # the test timeout: no hang
                assert res.is_error
                # the tool's deadline, or the Chroma request's own timeout (the same setting)
                # when the thread's answer reaches a busy loop first
                assert _text(res) in (f"memory unavailable: {HUNG}", TIMED_OUT), _text(res)
                assert _text(await client.call_tool("ping", {})) == "pong"
                stats = (await client.call_tool("memory_get_stats", {})).structured_content
                assert stats["memory"]["available"] is False, stats
                assert "producer" in stats
            finally:
                chroma.signal(signal.SIGCONT)
            res = await _until_answered(client, search)
            assert res.structured_content["hits"][0]["salient"] == OOM

            port = chroma.port
            chroma.stop()
            res = await client.call_tool("memory_search", search)
            assert res.is_error
            assert _text(res).startswith("memory unavailable: ")
            chroma = ChromaServer(tmp_path / "chroma", tmp_path / "chroma2.log", port).start()
            res = await _until_answered(client, search)
            assert res.structured_content["hits"][0]["salient"] == OOM  # data kept, reconnected
    finally:
        tools.close()
        trail.close(timeout=1)
        chroma.stop()


async def _until_answered(client: Any, args: dict[str, Any]) -> Any:
    """Search until an answer comes (the hung calls' threads finish first, by their timeout)."""
    deadline = time.monotonic() + 60
    while True:
        res = await client.call_tool("memory_search", args)
        if not res.is_error:
            return res
        assert time.monotonic() < deadline, _text(res)
        await asyncio.sleep(0.2)
