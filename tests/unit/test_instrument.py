"""``@instrument`` and ``record_call``: same result or exception, one event per call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.factories import taken_events
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.instrument import instrument, record_call
from tooltrail.schemas.events import Outcome, ToolExecutionEvent


@pytest.fixture
def producer(tmp_path: Path) -> TrailProducer:
    return TrailProducer(kafka_bootstrap="127.0.0.1:9", outbox_dir=tmp_path / "ob")


def _calls(producer: TrailProducer) -> list[ToolExecutionEvent]:
    return taken_events(producer)


def test_sync_function_result_and_exception_pass_through(producer: TrailProducer) -> None:
    @instrument(producer)
    def oc_read_get_pods(namespace: str, auth_token: str | None = None) -> list[str]:
        if namespace == "missing":
            raise LookupError("namespace missing")
        return ["web-1"]

    assert oc_read_get_pods("prod", auth_token="x") == ["web-1"]
    with pytest.raises(LookupError, match="namespace missing"):
        oc_read_get_pods("missing")
    ok, failed = _calls(producer)
    assert (ok.tool_id, ok.outcome, ok.args) == (
        "oc_read_get_pods",
        Outcome.OK,
        {"namespace": "prod", "auth_token": "x"},
    )
    assert ok.result_summary == '["web-1"]'
    assert failed.outcome == Outcome.TOOL_ERROR
    assert failed.error_summary == "LookupError: namespace missing"
    assert failed.elapsed_ms >= 0


async def test_async_function_and_cancellation(producer: TrailProducer) -> None:
    started = asyncio.Event()

    @instrument(producer, "slow_tool")
    async def slow() -> str:
        started.set()
        await asyncio.sleep(10)
        return "never"

    @instrument(producer)
    async def quick(x: int) -> int:
        return x * 2

    assert await quick(21) == 42
    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    done, cancelled = _calls(producer)
    assert (done.tool_id, done.outcome, done.result_summary) == ("quick", Outcome.OK, "42")
    assert (cancelled.tool_id, cancelled.outcome) == ("slow_tool", Outcome.CANCELLED)


def test_context_manager_records_the_block(producer: TrailProducer) -> None:
    with record_call(producer, "oc_read_logs", {"pod": "web-1"}) as handle:
        handle.result = "3 lines"
        handle.anchor("ns:prod")

    def divide() -> None:
        with record_call(producer, "oc_divide") as failing:
            failing.result = "partial output"
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        divide()
    ok, failed = _calls(producer)
    assert (ok.outcome, ok.result_summary, ok.anchors[1:]) == (Outcome.OK, "3 lines", ("ns:prod",))
    assert ok.anchors[0].startswith("presearch:hits=0;us=")  # cold cache: no hits, no error
    assert (failed.outcome, failed.result_summary) == (Outcome.TOOL_ERROR, "partial output")
    assert failed.error_summary == "ZeroDivisionError: division by zero"


def test_kill_switch_and_allowlist(tmp_path: Path) -> None:
    off = TrailProducer(outbox_dir=tmp_path / "a", enable_instrumentation=False)
    only = TrailProducer(outbox_dir=tmp_path / "b", instrument_allowlist=("kept",))

    @instrument(off, "kept")
    def a() -> int:
        return 1

    @instrument(only, "kept")
    def kept() -> int:
        return 2

    @instrument(only, "other")
    def other() -> int:
        return 3

    assert (a(), kept(), other()) == (1, 2, 3)
    assert off.stats().emitted == 0
    assert [c.tool_id for c in _calls(only)] == ["kept"]


def test_broken_instrumentation_never_breaks_the_tool(producer: TrailProducer) -> None:
    def explode(_: object) -> None:
        raise RuntimeError("emit broke")

    producer.emit = explode  # type: ignore[method-assign]

    @instrument(producer)
    def tool() -> str:
        return "fine"

    assert tool() == "fine"
    assert producer.stats().internal_errors == 1
