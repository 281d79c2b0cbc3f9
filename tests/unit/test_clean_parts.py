"""The common call's shortcut (``clean_parts``) and the wire times (``wire_time``) give exactly
what the general path gives.

``clean_parts`` skips the redaction rules for a call whose every free-form part they would
leave unchanged; answering "unchanged" for a call holding a secret would send the secret. So
it is held to ``redact_call`` on generated calls of the common shape whose result texts mix
clean lines with secrets of many shapes, under the default limits and under tight ones, and
the typical call is checked to take it. ``wire_time`` replaces ``datetime`` on the hot path:
it is held to the ``datetime`` path on generated times, rounding ties and second edges
included.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tooltrail.producer import calls, event_bytes
from tooltrail.producer.calls import ToolCall, clean_parts, redact_call, static_parts
from tooltrail.producer.event_bytes import build_record, wire_time
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.base import iso_ms_z
from tooltrail.schemas.events import Outcome
from tooltrail.schemas.redact import scan

DEFAULT = ProducerSettings(redact_max_cpu_ms=10_000)
#: A window shorter than a long result, and the smallest scan budget the settings allow.
TIGHT = ProducerSettings(redact_max_cpu_ms=10_000, redact_max_string=16, redact_max_scan_chars=1024)
POD_LIST = (
    "NAME                     STATUS             (selector=-)\n"
    "payments-551             Running            restarts=1\n"
    "payments-442             Pending            restarts=11"
)
#: Lines a result is made of: clean ones, and secrets of the shapes the rules know (gate
#: words, vendor tokens, key material, URLs with userinfo, JWTs, pairs, encodings).
CLEAN_LINES = [
    "NAME   READY   STATUS    RESTARTS   AGE",
    "api-7d9f8c6b5-x2x9z   1/1   Running   0   3d",
    "deployment.apps/web scaled",
    "ok",
    "No resources found in payments namespace.",
    "Forecast: sunny, 21C",
    "é",
    "漢字" * 300,  # 600 characters, 1,800 bytes: the summary is cut to 1.5 KB
    "a lone \ud800 surrogate",  # not UTF-8: replaced
    "x" * 1500,  # long results: cut to the summary's 1.5 KB, or past a tight window
    POD_LIST * 60,  # 10 KB: past the default window (9,216 characters)
]
SECRET_LINES = [
    "password=hunter2-very-secret",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl",
    "ghp_" + "A1b2" * 9,
    "AKIAIOSFODNN7EXAMPLE",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "postgres://admin:s3cr3t@db:5432/app",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7V\n-----END RSA PRIVATE KEY-----",
    "api_key: sk_live_51HxYzAbCdEfGhIjKlMnOpQr",
    "token%3Dabc123secretvalue",
    "mysql -u root -pS3cretPass",
    "data: cGFzc3dvcmQ9aHVudGVyMi12ZXJ5LXNlY3JldC12YWx1ZQ==",
]
TEXTS = st.lists(st.sampled_from(CLEAN_LINES + SECRET_LINES), max_size=6).map("\n".join)
ARGS = st.none() | st.dictionaries(
    st.sampled_from(["namespace", "pod", "city", "token", "selector"]),
    st.sampled_from(["payments", "api-7d9f8c6b5-x2x9z", "Paris", "ghp_" + "A1b2" * 9, "-"]),
    max_size=3,
)
RESULTS = st.one_of(
    st.none(),
    TEXTS,
    TEXTS.map(lambda t: {"content": [{"type": "text", "text": t}], "isError": False}),
    st.lists(TEXTS, max_size=3).map(
        lambda ts: {"content": [{"type": "text", "text": t} for t in ts]}
    ),
    TEXTS.map(lambda t: {"content": [{"type": "resource", "resource": {"text": t}}]}),
)


def _call(args: Any, result: Any, **extra: Any) -> ToolCall:
    call = ToolCall("oc_read_get_pods", args, "sess-1")
    call.finish(Outcome.OK, result=result)
    for name, value in extra.items():
        setattr(call, name, value)
    return call


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    args=ARGS,
    result=RESULTS,
    error=st.none() | st.sampled_from(["ValueError: unknown city", "password=x1y2z3w4"]),
    presearch=st.none() | st.just("presearch:hits=2;us=7"),
    anchors=st.sampled_from([[], ["incident 7 api_key=abcdef123456"]]),
    tight=st.booleans(),
)
def test_the_shortcut_gives_what_the_rules_give(
    args: Any,
    result: Any,
    error: str | None,
    presearch: str | None,
    anchors: list[str],
    tight: bool,
) -> None:
    s = TIGHT if tight else DEFAULT
    call = _call(args, result, error=error, presearch=presearch, anchors=anchors)
    general = redact_call(call, s)  # also teaches the clean-argument prefilter, as a build does
    fast = clean_parts(call, static_parts(s).limits)
    if fast is not None:
        assert fast == general
        assert error is None
        assert not anchors


@pytest.mark.parametrize("line", SECRET_LINES)
@pytest.mark.parametrize("wrap", ["text", "item"])
def test_a_result_holding_a_secret_is_left_to_the_rules(line: str, wrap: str) -> None:
    text = f"{POD_LIST}\n{line}"
    result = text if wrap == "text" else {"content": [{"type": "text", "text": text}]}
    call = _call({"namespace": "payments"}, result)
    redact_call(call, DEFAULT)
    assert clean_parts(call, static_parts(DEFAULT).limits) is None
    assert redact_call(call, DEFAULT).summary != text  # the rules did change it


def test_the_typical_call_takes_the_shortcut() -> None:
    result = {"content": [{"type": "text", "text": POD_LIST}], "structuredContent": None}
    namespace = f"ns-{uuid.uuid4().hex[:8]}"  # arguments no earlier call taught the prefilter
    call = _call({"namespace": namespace}, result, presearch="presearch:hits=0;us=3")
    limits = static_parts(DEFAULT).limits
    assert clean_parts(call, limits) is None  # arguments not yet seen clean
    general = redact_call(call, DEFAULT)
    fast = clean_parts(call, limits)
    assert fast is not None
    assert fast == general
    assert fast.summary == POD_LIST
    assert fast.anchors == ("presearch:hits=0;us=3",)
    assert fast.args == {"namespace": namespace}
    assert fast.args is not call.args


def test_a_build_of_the_typical_call_uses_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    call = _call({"namespace": "payments"}, POD_LIST)
    first = build_record(call, DEFAULT, 1)

    def refuse(*_: Any) -> None:
        raise AssertionError("the rules ran for a call the shortcut covers")

    monkeypatch.setattr(event_bytes, "redact_call", refuse)
    second = build_record(call, DEFAULT, 1)
    assert orjson.loads(second.value)["resultSummary"] == orjson.loads(first.value)["resultSummary"]


def test_a_text_that_opens_the_gate_is_gated_once_per_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def result() -> dict[str, Any]:  # a new string object each time, the same text
        text = "\n".join([POD_LIST, "api_key: sk_live_51HxYzAbCdEfGhIjKlMnOpQr"])
        return {"content": [{"type": "text", "text": text}]}

    build_record(_call({"namespace": "payments"}, result()), DEFAULT, 1)  # teaches the args
    call = _call({"namespace": "payments"}, result())
    text = call.result["content"][0]["text"]
    asked: list[str] = []
    real = scan.gate_opens

    def counting(t: str, lower: str) -> bool:
        asked.append(t)
        return real(t, lower)

    monkeypatch.setattr(scan, "gate_opens", counting)
    record = build_record(call, DEFAULT, 1)
    assert "sk_live_51HxYzAbCdEfGhIjKlMnOpQr" not in record.value.decode()
    assert [t is text for t in asked] == [True]  # the shortcut asked; the rules took its answer


@pytest.mark.parametrize(
    "change",
    [
        {"error": "boom"},
        {"anchors": ["a"]},
        {"incident_id": "INC-1"},
        {"started_wall": -1.0},
        {"elapsed_ms": math.inf},
        {"result": {"content": [{"type": "text", "text": "x" * 9217}]}},
        {"result": {"content": [{"type": "text", "text": "NAME é"}]}},
        {"result": {"content": "not a list"}},
        {"args": {"nested": {"namespace": "payments"}}},
        {"args": ["payments"]},
    ],
)
def test_other_calls_are_left_to_the_general_path(change: dict[str, Any]) -> None:
    call = _call({"namespace": "payments"}, POD_LIST)
    redact_call(call, DEFAULT)
    assert clean_parts(call, static_parts(DEFAULT).limits) is not None
    for name, value in change.items():
        setattr(call, name, value)
    assert clean_parts(call, static_parts(DEFAULT).limits) is None


def test_a_long_clean_result_is_cut_as_the_summary_cuts_it() -> None:
    text = ("NAME  READY  STATUS  RESTARTS  AGE\n" + "web-1  1/1  Running  0  3d\n" * 200)[:8000]
    call = _call({"namespace": "payments"}, {"content": [{"type": "text", "text": text}]})
    general = redact_call(call, DEFAULT)
    fast = clean_parts(call, static_parts(DEFAULT).limits)
    assert fast is not None
    assert fast == general
    assert fast.summary is not None
    assert len(fast.summary.encode()) <= 1536
    assert fast.summary.endswith("…")


@pytest.mark.parametrize("cpu_ms", [1e-7, 0.0, -1e-6, -1.0])  # 1e-7 rounds to 0 ns
def test_a_budget_without_cpu_time_leaves_long_results_to_the_rules(cpu_ms: float) -> None:
    text = "web-1  1/1  Running  0  3d\n" * 60  # 1,620 characters: the CPU clock starts
    call = _call({"namespace": "payments"}, text)
    no_time = calls.RedactionLimits(max_cpu_ms=cpu_ms)  # out at the first look at the clock
    redact_call(call, DEFAULT)
    assert clean_parts(call, static_parts(DEFAULT).limits) is not None
    assert clean_parts(call, no_time) is None
    short = _call({"namespace": "payments"}, text[:1000])
    assert clean_parts(short, no_time) is not None  # under 1,024 characters no clock runs


def test_a_result_past_the_scan_budget_is_left_to_the_rules() -> None:
    call = _call({"namespace": "payments"}, "x" * 1500)  # TIGHT scans 1,024 characters at most
    general = redact_call(call, TIGHT)
    assert general.summary is not None
    assert general.summary.endswith("over budget)")
    assert clean_parts(call, static_parts(TIGHT).limits) is None
    assert clean_parts(call, static_parts(DEFAULT).limits) == redact_call(call, DEFAULT)


def test_a_result_past_the_window_is_left_to_the_rules() -> None:
    call = _call({"namespace": "payments"}, POD_LIST)  # 170 characters, window of TIGHT: 8208
    tiny = calls.RedactionLimits(max_string=16, scan_margin=0)
    redact_call(call, DEFAULT)
    assert clean_parts(call, tiny) is None


def _reference(t: float) -> tuple[str, int, bytes]:
    moment = datetime.fromtimestamp(t, tz=UTC)
    json_text = orjson.dumps(moment, option=orjson.OPT_UTC_Z).decode().strip('"')
    return json_text, int(moment.timestamp() * 1000), iso_ms_z(moment).encode()


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.floats(0, 7_258_118_399.0, allow_nan=False),
        # ties of the microsecond rounding and the edges of seconds and milliseconds
        st.tuples(st.integers(0, 7_258_118_398), st.integers(0, 999_999)).map(
            lambda p: p[0] + (p[1] + 0.5) / 1e6
        ),
        st.integers(0, 7_258_118_398).map(lambda s: math.nextafter(s + 1.0, 0.0)),
        st.integers(0, 7_258_118_398).map(float),
    )
)
def test_wire_time_is_the_datetime_path(t: float) -> None:
    assert wire_time(t) == _reference(t)


def test_wire_time_keeps_up_with_the_clock_across_seconds() -> None:
    for t in (1_796_607_003.999_999_7, 1_796_607_004.0, 1_796_607_004.000_5, 1_796_606_000.25):
        assert wire_time(t) == _reference(t)
