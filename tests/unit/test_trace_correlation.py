"""OpenTelemetry correlation: an event carries the ids of the span current in its tool call.

Checked with the SDKs' own OpenTelemetry instrumentation and a real SDK ``TracerProvider``
(in-memory exporter), through the SDKs' in-memory clients. Without OpenTelemetry imported by
the application, nothing is looked up and nothing is imported.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.factories import taken_events
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.instrument import record_call
from tooltrail.schemas import ToolExecutionEvent, decode, encode
from tooltrail.schemas.headers import event_headers

trace = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    """The process's SDK provider (set once per process) with an in-memory exporter added."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, sdk_trace.TracerProvider):
        provider = sdk_trace.TracerProvider()
        trace.set_tracer_provider(provider)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, sdk_trace.TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    return EXPORTER


@pytest.fixture
def producer(tmp_path: Path) -> TrailProducer:
    return TrailProducer(kafka_bootstrap="127.0.0.1:9", outbox_dir=tmp_path / "ob")


def _events(producer: TrailProducer) -> list[ToolExecutionEvent]:
    return taken_events(producer)


def _traceparent(event: ToolExecutionEvent) -> str | None:
    headers = dict(event_headers(event))
    value = headers.get("traceparent")
    return value.decode() if value is not None else None


def test_record_call_inside_a_span_carries_its_ids_and_a_traceparent(
    spans: InMemorySpanExporter, producer: TrailProducer
) -> None:
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("handle") as span, record_call(producer, "oc_read_get_pods"):
        ctx = span.get_span_context()
    with record_call(producer, "outside_any_span"):
        pass
    inside, outside = _events(producer)
    assert inside.trace_id == f"{ctx.trace_id:032x}"
    assert inside.span_id == f"{ctx.span_id:016x}"
    flags = int(ctx.trace_flags)
    assert inside.trace_flags == flags
    assert flags & 1
    assert _traceparent(inside) == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{flags:02x}"
    assert (outside.trace_id, outside.span_id, outside.trace_flags) == (None, None, None)
    assert _traceparent(outside) is None
    assert b"traceId" not in encode(outside)  # unset optional fields stay off the wire
    assert decode(encode(inside), ToolExecutionEvent) == inside


def _tool_span(exporter: InMemorySpanExporter, tool: str) -> Any:
    named = [
        s
        for s in exporter.get_finished_spans()
        if (s.attributes or {}).get("gen_ai.tool.name") == tool
    ]
    assert named, [s.name for s in exporter.get_finished_spans()]
    return named[-1]


async def test_mcp_sdk_otel_span_is_the_events_parent(
    spans: InMemorySpanExporter, producer: TrailProducer
) -> None:
    from mcp import Client

    from tooltrail.consumers.app.demo.server import build_mcp

    spans.clear()
    async with Client(build_mcp(producer), mode="legacy") as client:
        await client.call_tool("oc_read_get_pods", {"namespace": "payments"})
    (event,) = _events(producer)
    span = _tool_span(spans, "oc_read_get_pods")
    assert event.trace_id == f"{span.context.trace_id:032x}"
    assert event.span_id == f"{span.context.span_id:016x}"


async def test_fastmcp_otel_span_is_the_events_parent(
    spans: InMemorySpanExporter, producer: TrailProducer
) -> None:
    import fastmcp
    from fastmcp import Client

    from tooltrail.consumers.app.demo.server import build_fastmcp

    spans.clear()
    before = fastmcp.settings.telemetry_mode
    fastmcp.settings.telemetry_mode = "native"
    try:
        async with Client(build_fastmcp(producer)) as client:
            await client.call_tool("oc_read_get_pods", {"namespace": "payments"})
    finally:
        fastmcp.settings.telemetry_mode = before
    (event,) = _events(producer)
    known = {
        (f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}")
        for s in spans.get_finished_spans()
    }
    assert (event.trace_id, event.span_id) in known


class _OddContext:
    is_valid = True
    trace_id = 1 << 130  # not a W3C trace id
    span_id = 5
    trace_flags = 1


class _OddSpan:
    def get_span_context(self) -> _OddContext:
        return _OddContext()


def test_ids_out_of_range_are_left_out_and_the_event_is_still_built(
    spans: InMemorySpanExporter, producer: TrailProducer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace, "get_current_span", lambda *a: _OddSpan())
    with record_call(producer, "t"):
        pass
    monkeypatch.setattr(trace, "get_current_span", lambda *a: 1 / 0)
    with record_call(producer, "t"):
        pass
    monkeypatch.setattr(_OddContext, "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")
    monkeypatch.setattr(trace, "get_current_span", lambda *a: _OddSpan())
    with record_call(producer, "t"):
        pass
    odd, raising, text_ids = _events(producer)  # every call still became an event
    assert text_ids.trace_id is None
    assert odd.trace_id is None
    assert raising.trace_id is None
    assert producer.stats().internal_errors == 0


def test_without_opentelemetry_nothing_is_imported_or_recorded(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from tooltrail.producer.emitter import TrailProducer\n"
        "from tooltrail.producer.instrument import record_call\n"
        "from tooltrail.producer.calls import ToolCall, build_event\n"
        f"p = TrailProducer(kafka_bootstrap='127.0.0.1:9', outbox_dir={str(tmp_path)!r})\n"
        "with record_call(p, 't'):\n    pass\n"
        "(record,) = p.take(10)\n"
        "assert b'traceId' not in record.value\n"
        "assert build_event(ToolCall('t', {}, 's'), p.settings).trace_id is None\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


async def test_error_type_matches_the_mcp_sdks_own_span(
    spans: InMemorySpanExporter, producer: TrailProducer
) -> None:
    from mcp import Client
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.shared.exceptions import MCPError

    from tooltrail.producer.middleware_mcp import TooltrailMiddleware
    from tooltrail.schemas.semconv import error_type, otel_attributes

    async def gate(ctx: Any, call_next: Any) -> Any:  # protocol errors below our middleware
        name = (ctx.params or {}).get("name")
        if name == "forbidden":
            raise MCPError(-32001, "not allowed")
        if name == "crash":
            raise LookupError("lost")
        return await call_next(ctx)

    server = MCPServer("t", log_level="WARNING", middleware=[TooltrailMiddleware(producer), gate])

    @server.tool()
    async def fine(n: int) -> str:
        return "ok"

    @server.tool()
    async def refuses(n: int) -> str:
        raise ToolError("no such pod")

    @server.tool()
    async def breaks(n: int) -> str:
        raise RuntimeError("boom")

    spans.clear()
    async with Client(server, mode="legacy") as client:
        for name, args in [
            ("fine", {"n": 1}),
            ("refuses", {"n": 1}),
            ("breaks", {"n": 1}),
            ("no_such_tool", {}),
            ("fine", {"n": "x"}),
            ("forbidden", {}),
            ("crash", {}),
        ]:
            with contextlib.suppress(MCPError):
                await client.call_tool(name, args)
    events = {(e.tool_id, e.outcome): e for e in _events(producer)}
    sdk_spans = {
        (s.attributes or {}).get("gen_ai.tool.name"): s for s in spans.get_finished_spans()
    }
    assert len(events) == 7
    for event in events.values():
        span = next(
            s for s in spans.get_finished_spans() if f"{s.context.span_id:016x}" == event.span_id
        )
        assert error_type(event) == (span.attributes or {}).get("error.type"), event
        attributes = otel_attributes(event)
        for name in ("gen_ai.tool.name", "gen_ai.operation.name", "mcp.method.name"):
            assert attributes[name] == (span.attributes or {})[name]
    assert sdk_spans  # the SDK's spans were recorded at all
    assert {error_type(e) for e in events.values()} == {None, "tool_error", "-32001", "LookupError"}
