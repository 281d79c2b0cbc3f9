"""The hot path's bytes are the model's bytes: ``build_record`` against ``build_event``.

For generated calls (names, arguments, results, errors, anchors, trace ids, outcomes, times),
the record built without pydantic carries exactly the value, key, timestamp and headers of
the record built through ``ToolExecutionEvent``, and the model accepts the value as it is.
Where the model refuses a call, the fast path refuses it too.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.schema_strategies import ANY_JSON
from tooltrail.producer import calls, event_bytes
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.event_bytes import build_record, record_of
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas import ToolExecutionEvent, decode, encode
from tooltrail.schemas.events import OpType, Outcome

#: No CPU budget cut: both paths must redact alike however slow the machine is.
SETTINGS = ProducerSettings(redact_max_cpu_ms=10_000, server_name="srv ü/1", domain="ops")
OTHER = ProducerSettings(
    redact_max_cpu_ms=10_000, enable_presearch=False, mcp_log_verbose=True, environment="prod"
)
TEXT = st.text(max_size=60)
RESULTS = st.one_of(
    st.none(),
    ANY_JSON,
    st.builds(
        lambda texts, structured: {
            "content": [{"type": "text", "text": t} for t in texts],
            "structuredContent": structured,
        },
        st.lists(TEXT, max_size=3),
        st.none() | st.dictionaries(TEXT, ANY_JSON, max_size=3),
    ),
)
TRACES = st.none() | st.tuples(
    st.integers(-1, 1 << 129), st.integers(-1, 1 << 65), st.integers(0, 1 << 9)
)


@st.composite
def finished_calls(draw: st.DrawFn) -> ToolCall:
    call = ToolCall(
        draw(st.one_of(st.sampled_from(["oc_read_get_pods", "get_forecast", ""]), TEXT)),
        draw(st.none() | ANY_JSON | st.dictionaries(TEXT, ANY_JSON, max_size=4)),
        draw(st.sampled_from(["sess-1", ""]) | TEXT),
        draw(st.none() | st.sampled_from(list(OpType))),
    )
    call.started_wall = draw(st.floats(0, 7_000_000_000, allow_nan=False))
    call.trace = draw(TRACES)
    call.anchors = draw(st.lists(TEXT, max_size=40))
    call.presearch = draw(st.none() | st.just("presearch:hits=1;us=5"))
    call.incident_id = draw(st.none() | TEXT)
    call.finish(
        draw(st.sampled_from(list(Outcome))),
        error=draw(st.none() | TEXT),
        result=draw(RESULTS),
    )
    call.elapsed_ms = draw(st.floats(0, 700_000_000, allow_nan=False))
    return call


def _fixed_id(ms: int) -> str:
    return f"evt-{ms}"


def _both(call: ToolCall, s: ProducerSettings, seq: int) -> tuple[Any, Any]:
    out: list[Any] = []
    with (
        mock.patch.object(calls, "new_event_id", _fixed_id),
        mock.patch.object(event_bytes, "new_event_id", _fixed_id),
    ):
        for build in (
            lambda: record_of(build_event(call, s, seq)),
            lambda: build_record(call, s, seq),
        ):
            try:
                out.append(build())
            except Exception as exc:  # noqa: BLE001 - compared below
                out.append(type(exc))
    return out[0], out[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=finished_calls(), seq=st.integers(0, 2**63 - 1), other=st.booleans())
def test_fast_bytes_are_the_models_bytes_and_the_model_accepts_them(
    call: ToolCall, seq: int, other: bool
) -> None:
    s = OTHER if other else SETTINGS
    model, fast = _both(call, s, seq)
    if isinstance(model, type):  # the model refuses this call: so does the fast path
        assert isinstance(fast, type), fast
        return
    assert not isinstance(fast, type), fast
    assert fast == model  # key, value, timestamp, headers, resent flag
    event = decode(fast.value, ToolExecutionEvent)
    assert encode(event) == fast.value


def test_a_call_the_model_refuses_is_refused_by_the_fast_path() -> None:
    call = ToolCall("t", {}, "s").finish(Outcome.OK)
    call.elapsed_ms = 8 * 24 * 3600 * 1000.0  # over a week: not a tool call
    with pytest.raises(ValueError, match="elapsedMs"):
        build_record(call, SETTINGS, 1)


def test_mcp_log_verbose_comes_from_the_settings_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCP_LOG_VERBOSE", "true")
    quiet = ProducerSettings(mcp_log_verbose=False)
    record = build_record(ToolCall("t", {}, "s").finish(Outcome.OK), quiet, 1)
    assert decode(record.value, ToolExecutionEvent).flags["MCP_LOG_VERBOSE"] is False
    from tooltrail.schemas.config import load_settings

    assert load_settings(ProducerSettings).mcp_log_verbose is True
    monkeypatch.setenv("MCP_LOG_VERBOSE", "loud")
    from tooltrail.schemas.errors import SettingsError

    with pytest.raises(SettingsError, match=r"(?i)mcp_log_verbose"):
        load_settings(ProducerSettings)
