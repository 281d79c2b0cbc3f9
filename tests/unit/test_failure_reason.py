"""The event records what the tool raised, not the SDK's generic wrapper, on every adapter.

Through the SDKs' own in-memory clients: the mcp SDK turns a crash into an ``isError``
result that says only ``Error executing tool get_forecast``; fastmcp wraps it in its own
``ToolError`` (and masks its text with ``mask_error_details``). The message is redacted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import taken_events
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.instrument import instrument
from tooltrail.schemas.events import Outcome

SECRET = "sk_live_" + "a1B2c3D4e5F6g7H8i9J0kLmN"


@pytest.fixture
def producer(tmp_path: Path) -> TrailProducer:
    return TrailProducer(kafka_bootstrap="127.0.0.1:9", outbox_dir=tmp_path / "ob")


def _forecast(city: str) -> str:
    if city == "Atlantis":
        raise ValueError(f"unknown city Atlantis (api key {SECRET})")
    return "sunny"


def _check(producer: TrailProducer) -> None:
    ok, failed = taken_events(producer)
    assert (ok.outcome, ok.error_summary) == (Outcome.OK, None)
    assert failed.outcome == Outcome.TOOL_ERROR
    assert failed.error_summary is not None
    assert failed.error_summary.startswith("ValueError: unknown city Atlantis (api key ")
    assert SECRET not in failed.error_summary
    assert "Error executing tool" not in failed.error_summary


async def test_mcp_sdk_records_the_exception_not_the_generic_text(producer: TrailProducer) -> None:
    from mcp import Client
    from mcp.server.mcpserver import MCPServer

    from tooltrail.producer.middleware_mcp import TooltrailMiddleware

    server = MCPServer("t", log_level="ERROR", middleware=[TooltrailMiddleware(producer)])

    @server.tool()
    async def get_forecast(city: str) -> str:
        return _forecast(city)

    async with Client(server, mode="legacy") as client:
        await client.call_tool("get_forecast", {"city": "Paris"})
        result = await client.call_tool("get_forecast", {"city": "Atlantis"})
    assert result.is_error  # the client still sees only the SDK's generic text
    assert "unknown city" not in str(result.content)
    _check(producer)


@pytest.mark.parametrize("mask", [False, True])
async def test_fastmcp_records_the_exception_not_its_wrapper(
    producer: TrailProducer, mask: bool
) -> None:
    from fastmcp import Client, FastMCP
    from fastmcp.exceptions import ToolError

    from tooltrail.producer.middleware_fastmcp import TooltrailFastMCPMiddleware

    server = FastMCP(
        "t", middleware=[TooltrailFastMCPMiddleware(producer)], mask_error_details=mask
    )

    @server.tool
    def get_forecast(city: str) -> str:
        return _forecast(city)

    async with Client(server) as client:
        await client.call_tool("get_forecast", {"city": "Paris"})
        with pytest.raises(ToolError):
            await client.call_tool("get_forecast", {"city": "Atlantis"})
    _check(producer)


def test_decorator_records_the_exception(producer: TrailProducer) -> None:
    @instrument(producer)
    def get_forecast(city: str) -> str:
        return _forecast(city)

    get_forecast("Paris")
    with pytest.raises(ValueError, match="unknown city"):
        get_forecast("Atlantis")
    _check(producer)


async def test_mcp_deliberate_tool_error_keeps_its_own_text(producer: TrailProducer) -> None:
    from mcp import Client
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from tooltrail.producer.middleware_mcp import TooltrailMiddleware

    server = MCPServer("t", log_level="ERROR", middleware=[TooltrailMiddleware(producer)])

    @server.tool()
    async def get_forecast(city: str) -> str:
        raise ToolError(f"no forecast for {city}")

    async with Client(server, mode="legacy") as client:
        await client.call_tool("get_forecast", {"city": "Oslo"})
    (event,) = taken_events(producer)
    assert event.error_summary is not None
    assert "no forecast for Oslo" in event.error_summary
