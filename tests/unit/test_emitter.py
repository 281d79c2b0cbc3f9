"""The emitter without a broker: queue bound, overflow to the outbox, close, never raising."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import orjson
import pytest

from tests.factories import make_event
from tooltrail.producer import outbox_files
from tooltrail.producer.calls import ToolCall, build_event, classify_op
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.outbox import Outbox
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas import ToolExecutionEvent, decode
from tooltrail.schemas.events import Outcome


def _producer(tmp_path: Path, **overrides: object) -> TrailProducer:
    return TrailProducer(kafka_bootstrap="127.0.0.1:9", outbox_dir=tmp_path / "outbox", **overrides)


def _outbox_events(tmp_path: Path) -> list[ToolExecutionEvent]:
    outbox = Outbox(tmp_path / "outbox", 10**9, 10**8)
    return [decode(r.value, ToolExecutionEvent) for r in outbox.peek(10**6)]


def test_a_full_accumulator_drops_and_counts_and_close_keeps_what_it_held(
    tmp_path: Path,
) -> None:
    producer = _producer(tmp_path, queue_size=100)
    events = [make_event() for _ in range(250)]
    for event in events:
        producer.emit(event)
    stats = producer.stats()
    assert (stats.queue_depth, stats.emitted, stats.spilled) == (100, 250, 0)
    assert stats.dropped == {"queue_full": 150}  # never written on the caller's thread
    assert list((tmp_path / "outbox").glob("seg-*.log")) == []  # no record written yet
    producer.close(timeout=0)
    assert producer.stats().spilled == 100
    stored = _outbox_events(tmp_path)
    assert [e.event_id for e in stored] == [e.event_id for e in events[:100]]


def test_emit_after_close_is_dropped_and_counted_without_touching_the_disk(
    tmp_path: Path,
) -> None:
    producer = _producer(tmp_path)
    producer.close(timeout=0)
    producer.emit(make_event())
    assert producer.stats().dropped == {"closed": 1}
    assert producer.stats().emitted == 1
    assert _outbox_events(tmp_path) == []


def test_a_full_disk_costs_the_events_it_refuses_never_a_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    producer = _producer(tmp_path, request_timeout_ms=200, linger_ms=1)

    def full(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outbox_files, "raw_write", full)  # every append fails as on /dev/full
    producer.start()
    try:
        for _ in range(5):
            producer.emit(make_event())  # must not raise
        deadline = time.monotonic() + 10
        while producer.stats().dropped.get("disk_full", 0) < 5:
            assert time.monotonic() < deadline, producer.stats()
            time.sleep(0.01)
        stats = producer.stats()
        assert (stats.emitted, stats.spilled, stats.queue_depth) == (5, 0, 0)
        assert stats.outbox_usable is False  # it says so while the disk refuses
    finally:
        producer.close(timeout=0.2)
    for segment in (tmp_path / "outbox").glob("seg-*.log"):
        assert segment.stat().st_size == 0  # truncated back: no torn record left
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("dropped" in m and "ENOSPC" in m for m in warnings)  # the errno is named
    assert warnings[-1].startswith("tooltrail: events dropped during this run: disk_full=5")


def test_emit_is_thread_safe(tmp_path: Path) -> None:
    producer = _producer(tmp_path, queue_size=100_000)
    threads = [
        threading.Thread(target=lambda: [producer.emit(make_event()) for _ in range(500)])
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert producer.stats().emitted == 4000
    assert producer.stats().queue_depth == 4000


def test_raw_calls_are_redacted_when_they_become_events(tmp_path: Path) -> None:
    settings = _producer(tmp_path).settings
    call = ToolCall("oc_read_logs", {"namespace": "prod", "token": "sha256~" + "a" * 43}, "sess-9")
    call.finish(Outcome.OK, result={"content": [{"type": "text", "text": "Bearer abcdefgh123"}]})
    event = build_event(call, settings, seq=7)
    wire = orjson.dumps(event.model_dump(mode="json", by_alias=True)).decode()
    assert "a" * 43 not in wire
    assert "abcdefgh123" not in wire
    assert event.args["namespace"] == "prod"
    assert event.producer_seq == 7
    assert event.op_type == "read"
    assert event.flags["ENABLE_INSTRUMENTATION"] is True


@pytest.mark.parametrize(
    ("tool", "op"),
    [
        ("oc_read_get_pods", "read"),
        ("oc_diagnostic_cluster_health", "diagnostic"),
        ("oc_write_scale_deployment", "write"),
        ("memory_recall", "memory"),
        ("run_workflow", "workflow"),
        ("frobnicate", "other"),
    ],
)
def test_operation_type_is_classified_from_the_tool_name(tool: str, op: str) -> None:
    assert classify_op(tool) == op


def test_an_unusable_outbox_directory_keeps_spilled_events_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the outbox directory's parent should be")
    producer = TrailProducer(
        outbox_dir=blocker / "outbox",
        kafka_bootstrap="127.0.0.1:1",
        queue_size=5,
        shutdown_timeout_s=0.2,
        linger_ms=1,
        outbox_max_bytes=8 * 1024,
        outbox_segment_bytes=4096,
    )
    producer.start()  # does not raise either
    try:
        for _ in range(4):
            producer.emit(make_event())
        deadline = time.monotonic() + 10
        while producer.stats().spilled < 4:
            assert time.monotonic() < deadline, producer.stats()
            time.sleep(0.01)
        stats = producer.stats()
        assert stats.outbox_usable is False
        assert (stats.emitted, stats.outbox_pending, stats.dropped) == (4, 4, {})
        for _ in range(40):  # far more than 8 KiB: the oldest are dropped and counted
            producer.emit(make_event())
            time.sleep(0.002)
        deadline = time.monotonic() + 10
        while producer.stats().spilled < 44 - producer.stats().dropped_total:
            assert time.monotonic() < deadline, producer.stats()
            time.sleep(0.01)
        stats = producer.stats()
        assert stats.outbox_bytes <= 8 * 1024
        assert stats.dropped.get("outbox_full", 0) > 0
        assert stats.outbox_pending + stats.dropped["outbox_full"] == stats.spilled
    finally:
        producer.close()


def test_invalid_settings_disable_instrumentation_instead_of_raising(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOOLTRAIL_QUEUE_SIZE", "lots")
    monkeypatch.chdir(tmp_path)
    producer = TrailProducer()
    producer.start()
    try:
        assert producer.disabled is not None
        assert "TOOLTRAIL_QUEUE_SIZE = 'lots'" in producer.disabled
        assert any("instrumentation disabled" in r.getMessage() for r in caplog.records)
        producer.emit(make_event())
        assert producer.stats().dropped == {"disabled": 1}
        assert not producer.settings.instruments("oc_read_get_pods")
    finally:
        producer.close()


@pytest.mark.parametrize("strict", [True, False])
def test_strict_stdio_logs_moves_stdout_handlers_to_stderr(strict: bool, tmp_path: Path) -> None:
    import logging
    import sys

    handler = logging.StreamHandler(sys.stdout)
    logger = logging.getLogger("a.tool.server")
    logger.addHandler(handler)
    try:
        producer = TrailProducer(
            strict_stdio_logs=strict,
            outbox_dir=tmp_path / "ob",
            kafka_bootstrap="127.0.0.1:1",
            shutdown_timeout_s=0.1,
        )
        producer.start()
        producer.close()
        assert (handler.stream is sys.stderr) is strict
    finally:
        logger.removeHandler(handler)


def test_each_settings_object_stamps_its_own_tags_flags_and_server() -> None:
    a = ProducerSettings(domain="openshift", server_name="srv-a", enable_presearch=False)
    b = ProducerSettings(domain="billing", server_name="srv-b", enable_presearch=True)
    for _ in range(2):  # the second round is served from the per-settings cache
        for settings, domain, name in ((a, "openshift", "srv-a"), (b, "billing", "srv-b")):
            for outcome in (Outcome.OK, Outcome.TOOL_ERROR):
                event = build_event(ToolCall("t", {}, "s").finish(outcome), settings)
                assert (event.tags.domain, event.server_name) == (domain, name)
                assert (
                    event.tags.severity
                    == build_event(
                        ToolCall("t", {}, "s").finish(outcome), ProducerSettings()
                    ).tags.severity
                )
                assert event.flags["ENABLE_PRESEARCH"] is settings.enable_presearch
    ok = build_event(ToolCall("t", {}, "s").finish(Outcome.OK), a).tags.severity
    failed = build_event(ToolCall("t", {}, "s").finish(Outcome.TOOL_ERROR), a).tags.severity
    assert ok != failed


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_the_sender_pauses_between_slices_of_work_so_other_threads_get_the_gil() -> None:
    """A pause is a real sleep (the GIL is free during it) taken once a slice is used up."""
    from tooltrail.producer.accumulator import Accumulator
    from tooltrail.producer.sender import Pacer

    acc: Accumulator[int] = Accumulator(100)
    pace = Pacer(slice_us=1_000, pause_us=2_000, acc=acc)
    others = []
    stop = threading.Event()

    def other() -> None:  # counts how often it got to run while the "sender" worked
        while not stop.is_set():
            others.append(1)
            time.sleep(0.0002)

    pace.begin()
    for _ in range(10):  # ten stretches shorter than a slice: no pause
        pace.tick()
    assert pace.pauses == 0
    t = threading.Thread(target=other)
    t.start()
    try:
        pace.begin()
        for _ in range(40):  # 40 ms of work in 1 ms slices, the GIL held between ticks
            _busy(0.001)
            pace.tick()
    finally:
        stop.set()
        t.join()
    assert pace.pauses >= 20
    # 20+ pauses of 2 ms give the other thread (~0.25 ms per turn) well over 120 turns (~320
    # measured); a release the sender takes back at once (sleep(0)) lets it in about once per
    # release (~40), and no release at all once per 5 ms switch interval (~8)
    assert len(others) >= 120


@pytest.mark.parametrize(("queued", "slice_us"), [(25, 1_000), (0, 0)])
def test_the_sender_does_not_pause_when_it_is_behind_or_pacing_is_off(
    queued: int, slice_us: int
) -> None:
    """Over a quarter of the accumulator waiting, or ``TOOLTRAIL_SENDER_SLICE_US=0``: no pause."""
    from tooltrail.producer.accumulator import Accumulator
    from tooltrail.producer.sender import Pacer

    acc: Accumulator[int] = Accumulator(100)
    for i in range(queued):
        acc.put(i)
    pace = Pacer(slice_us=slice_us, pause_us=2_000, acc=acc)
    pace.begin()
    for _ in range(10):
        _busy(0.002)
        pace.tick()
    assert pace.pauses == 0


def test_a_finished_record_is_put_as_it_is_and_a_call_is_built_on_the_calling_thread(
    tmp_path: Path,
) -> None:
    from tooltrail.producer.event_bytes import build_record

    producer = _producer(tmp_path)
    record = build_record(ToolCall("t", {}, "s").finish(Outcome.OK), producer.settings, 1)
    producer.emit(record)
    producer.emit(ToolCall("oc_read_get_pods", {"token": "hunter2hunter2"}, "s").finish(Outcome.OK))
    first, second = producer.take(10)
    assert first is record  # no copy, no rebuild
    event = decode(second.value, ToolExecutionEvent)  # already bytes when emit returned
    assert event.args["token"] == "<redacted>"
    assert (event.producer_seq, second.key) == (1, b"s")


def test_a_call_that_cannot_become_an_event_is_counted_never_raised(tmp_path: Path) -> None:
    producer = _producer(tmp_path)
    bad = ToolCall("t", {}, "s").finish(Outcome.OK)
    bad.elapsed_ms = float("nan")  # no event can say how long it took
    producer.emit(bad)
    huge = ToolCall("t", {}, "s").finish(Outcome.OK)
    huge.anchors = ["x" * 199] * 32  # over a 4 KB request limit once framed
    small = _producer(tmp_path / "small", max_request_size=4096)
    small.emit(huge)
    stats = producer.stats()
    assert (stats.emitted, stats.queue_depth, stats.internal_errors) == (1, 0, 1)
    assert stats.dropped == {"invalid_event": 1}
    assert small.stats().dropped == {"too_large": 1}
    assert small.stats().emitted == 1
