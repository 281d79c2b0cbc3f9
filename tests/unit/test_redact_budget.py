"""Fail closed, never slow: the per-event budget masks and counts; placeholders are not
trusted; the MCP SDKs' loggers are redacted once a producer starts."""

from __future__ import annotations

import importlib
import io
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from tests.data.adversarial import hostile_values
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.events import Outcome
from tooltrail.schemas.keys import cache_key
from tooltrail.schemas.redact import (
    OVER_BUDGET,
    REDACTED,
    RedactionLimits,
    budget_stats,
    redact,
    redact_text,
)
from tooltrail.schemas.redact.budget import RedactionBudget
from tooltrail.schemas.redact.limits import DEFAULT_LIMITS
from tooltrail.schemas.redact.logfilter import SDK_LOGGERS, RedactingFilter, redact_loggers

budget_module = importlib.import_module("tooltrail.schemas.redact.budget")
TOKEN = "ghp_" + "Qw3rTy9UiOp2AsDfGh4JkLzX7cVbNm1PoIuY"
HOSTILE = [v for _, _, v in hostile_values(9 * 1024, extra=20)]


def _moved(before: dict[str, int]) -> dict[str, int]:
    after = budget_stats()
    return {k: after[k] - before[k] for k in after}


def test_a_typical_event_leaves_the_counters_alone() -> None:
    before = budget_stats()
    args = {"namespace": "payments", "selector": "app=web", "password": "x1y2z3w4v5"}
    call = ToolCall("oc_read_get_pods", args, "s").finish(
        Outcome.OK, result={"content": [{"type": "text", "text": "web-0 1/1 Running\n" * 50}]}
    )
    event = build_event(call, ProducerSettings())
    assert OVER_BUDGET not in orjson.dumps(event.model_dump(mode="json")).decode()
    assert _moved(before) == {"over_budget": 0, "masked_over_budget": 0}


def test_past_the_characters_budget_the_rest_is_masked_counted_and_leaks_nothing() -> None:
    limits = RedactionLimits(max_scan_chars=30_000).with_budget()
    value = {f"v{i}": HOSTILE[i] for i in range(8)} | {"later": f"deploy with {TOKEN} now"}
    before = budget_stats()
    out = orjson.dumps(redact(value, limits)).decode()
    assert OVER_BUDGET in out
    assert TOKEN[4:12] not in out
    assert "more keys" in out  # the rest of the mapping is one marker
    moved = _moved(before)
    assert moved["over_budget"] == 1  # one event, one budget
    assert moved["masked_over_budget"] >= 1
    assert redact_text(TOKEN, limits) == OVER_BUDGET  # every later call of the event too


def test_past_the_cpu_budget_a_string_is_masked_between_two_passes() -> None:
    limits = RedactionLimits(max_cpu_ms=0.000_001).with_budget()
    before = budget_stats()
    text = f"password: hunter2x9 and {TOKEN} in a log line with token=abc123def456"
    assert redact_text(text, limits) == OVER_BUDGET
    assert _moved(before)["over_budget"] == 1


def test_a_string_longer_than_what_is_left_is_cut_where_the_budget_ends() -> None:
    limits = RedactionLimits(max_scan_chars=2000).with_budget()
    text = "ok " * 500 + TOKEN + " tail" * 200
    out = redact_text(text, limits)
    assert out.startswith("ok ok")
    assert out.endswith("chars, over budget)")
    assert TOKEN[4:12] not in out


def test_without_a_shared_budget_each_call_has_its_own() -> None:
    limits = RedactionLimits(max_scan_chars=20_000)
    for value in HOSTILE[:5]:  # 9 KB each: over 20,000 only if the budget were shared
        assert OVER_BUDGET not in redact_text(value, limits)


def test_the_producer_settings_bound_each_event_and_the_wire_shows_the_mask() -> None:
    settings = ProducerSettings(redact_max_scan_chars=16_384, redact_max_cpu_ms=50)
    call = ToolCall("oc_read_logs", {f"a{i}": HOSTILE[i] for i in range(6)}, "s")
    call.finish(Outcome.TOOL_ERROR, error=f"failed with {TOKEN}", result=HOSTILE[7])
    before = budget_stats()
    event = build_event(call, settings)
    wire = orjson.dumps(event.model_dump(mode="json", by_alias=True)).decode()
    assert OVER_BUDGET in wire
    assert TOKEN[4:12] not in wire
    assert _moved(before)["over_budget"] == 1


def test_the_settings_reject_a_budget_out_of_range() -> None:
    with pytest.raises(ValueError, match="redact_max_scan_chars"):
        ProducerSettings(redact_max_scan_chars=10)
    with pytest.raises(ValueError, match="redact_max_cpu_ms"):
        ProducerSettings(redact_max_cpu_ms=0)


@pytest.mark.parametrize(
    "value",
    [
        "{{ " + TOKEN + " }}",
        "${" + TOKEN + "}",
        "$(echo " + TOKEN + ")",
        "<" + TOKEN + ">",
        '{{ "S3cr3t-Pa55w0rd" }}',
        "{{ 8fJ3kd9Qz2xYw7Lm }}",
    ],
)
def test_a_placeholder_holding_a_secret_is_not_trusted(value: str) -> None:
    assert redact({"password": value}) == {"password": REDACTED}
    assert TOKEN[4:12] not in redact_text(f"password: {value}\nuser: app")


def test_a_huge_placeholder_is_never_kept_whole() -> None:
    value = "{{" + "a" * 200_000 + "}}"
    out = redact({"password": value, "note": value})
    assert out["password"] == REDACTED  # type: ignore[index]
    assert len(out["note"]) <= 1024 + len("…(+999999 chars)")  # type: ignore[index]


@pytest.mark.parametrize(
    "value",
    ["${{ secrets.DB_PASSWORD }}", "{{ .Values.db.password }}", "${DB_PASSWORD}", "<your-token>"],
)
def test_a_short_reference_stays(value: str) -> None:
    assert redact({"password": value}) == {"password": value}


@pytest.fixture
def restored_loggers() -> Iterator[None]:
    """Every logger's and handler's filters as they were (the install is process-wide)."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in SDK_LOGGERS)]
    loggers += [
        x for x in logging.Logger.manager.loggerDict.values() if isinstance(x, logging.Logger)
    ]
    saved = {id(h): (h, h.filters[:]) for x in loggers for h in (x, *x.handlers)}
    yield
    for holder, filters in saved.values():
        holder.filters[:] = filters


@contextmanager
def _captured(name: str) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """The SDK logger ``name`` with a plain handler of the tool server's own (no filter of
    ours) on it: fastmcp stops its records at its ``fastmcp`` logger, so not on the root."""
    import fastmcp  # noqa: F401 - the SDKs' loggers exist once imported
    import mcp.server.mcpserver.server  # noqa: F401

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.usefixtures("restored_loggers")
def test_the_sdk_loggers_are_redacted_once_installed() -> None:
    with _captured("mcp.server.mcpserver.server") as (logger, stream):
        assert redact_loggers() > 0
        assert redact_loggers() == 0  # idempotent
        logger.info("Tool %r failed: %r", "deploy", f"registry rejected {TOKEN}")
        assert any(isinstance(f, RedactingFilter) for f in logger.filters)
        assert "registry rejected <redacted>" in stream.getvalue()
        assert TOKEN[4:12] not in stream.getvalue()


@pytest.mark.usefixtures("restored_loggers")
def test_starting_a_producer_installs_the_filter_on_the_sdk_loggers(tmp_path: Path) -> None:
    producer = TrailProducer(
        outbox_dir=tmp_path / "ob", kafka_bootstrap="127.0.0.1:1", shutdown_timeout_s=0.1
    )
    with _captured("fastmcp.tools.base") as (logger, stream):
        try:
            producer.start()
            logger.error("Error calling tool %s: %s", "deploy", f"password=hunter2x9 {TOKEN}")
            assert "password=<redacted> <redacted>" in stream.getvalue()
        finally:
            producer.close()


def test_the_log_filter_masks_the_rest_of_a_record_past_its_budget() -> None:
    record = logging.LogRecord("mcp", logging.ERROR, __file__, 1, "%s", ("x",), None)
    record.msg = " ".join(HOSTILE[:10]) + f" then {TOKEN}"
    RedactingFilter(RedactionLimits(max_string=56 * 1024, max_scan_chars=4096)).filter(record)
    assert TOKEN[4:12] not in record.getMessage()
    assert "over budget" in record.getMessage()


def test_a_producer_s_stats_and_prometheus_show_the_budget_running_out(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from tooltrail.producer.prometheus import ProducerCollector

    producer = TrailProducer(outbox_dir=tmp_path / "ob", kafka_bootstrap="127.0.0.1:1")
    try:
        before = producer.stats()
        redact(HOSTILE[0], RedactionLimits(max_cpu_ms=0.000_001).with_budget())
        after = producer.stats()
        assert after.redaction_over_budget == before.redaction_over_budget + 1
        assert after.redaction_masked_over_budget > before.redaction_masked_over_budget
        registry = CollectorRegistry()
        registry.register(ProducerCollector(producer))
        text = generate_latest(registry).decode()
        line = f"tooltrail_producer_redaction_over_budget_total {after.redaction_over_budget}.0"
        assert line in text
    finally:
        producer.close()


class _PausingClock:
    """A thread clock that jumps 50 ms at every reading: a garbage collection (which the
    thread that triggers it pays for) landing between any two checks of a budget."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        self.now += 50_000_000
        return self.now


_KEY_ARGS = {
    "ssh_key": "D¿X÷",
    "namespace": "payments",
    "selector": "app=web",
    "note": "mysql -uroot -pZUWGX1KN8D5BE8TMR9XBDQA1XYVTR0WG9HCGX db",
    "conn": -3.17e-91,
    "query": False,
}


def test_a_cache_key_does_not_depend_on_the_cpu_time_spent_on_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tool server and the enrich group compute a key apart: a pause during one must not
    make it a key the other never computes (it did: the 10 ms budget ran out mid-way)."""
    calm = cache_key("oc_read_get_pods", _KEY_ARGS)
    redacted = redact(_KEY_ARGS)  # as the event carries them to the enrich group
    before = budget_stats()
    monkeypatch.setattr(budget_module.time, "thread_time_ns", _PausingClock())
    assert cache_key("oc_read_get_pods", _KEY_ARGS) == calm
    assert cache_key("oc_read_get_pods", redacted) == calm
    assert set(_moved(before).values()) == {0}


def test_the_pausing_clock_does_run_an_event_budget_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock above is one that events notice (else the key test would prove nothing)."""
    monkeypatch.setattr(budget_module.time, "thread_time_ns", _PausingClock())
    limits = DEFAULT_LIMITS.with_budget()
    out = redact({"a": _KEY_ARGS["note"], "b": "token=" + "x" * 2000}, limits)
    assert OVER_BUDGET in orjson.dumps(out).decode()


def test_a_budget_without_a_clock_never_reads_it_and_still_counts_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_clock() -> int:
        raise AssertionError("the clock was read")

    monkeypatch.setattr(budget_module.time, "thread_time_ns", no_clock)
    budget = RedactionBudget(3000, math.inf)
    assert budget.take(2048) == 2048
    assert not budget.expired()
    assert budget.take(2048) == 952  # the characters still bound it
    assert budget.take(1) == 0
    assert budget.expired()
    assert RedactionBudget(10, 0.0).cpu_ns == 0  # 0 ms still grants nothing


@pytest.mark.parametrize("cpu_ms", [0.0, -1e-6, -1.0, -math.inf])
def test_no_cpu_time_is_never_read_as_an_unclocked_budget(cpu_ms: float) -> None:
    """Only ``math.inf`` removes the clock: a negative grant (``int(-1e-6 * 1e6)`` is the
    sentinel's -1) grants nothing, the budget runs out at its first look at the clock."""
    budget = RedactionBudget(3000, cpu_ms)
    assert budget.cpu_ns == 0
    assert budget.take(2048) == 0
    assert budget.expired()
