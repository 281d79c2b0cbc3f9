"""The one codec: round trips, seed compatibility, upcasting, and clean failures."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import make_event
from tooltrail.schemas import (
    DeadLetter,
    EnrichmentEntry,
    MemoryRecord,
    MetricRecord,
    SchemaDecodeError,
    ToolExecutionEvent,
    decode,
    encode,
)
from tooltrail.schemas.codec import decode_batch

SEED_RECORDS: list[dict[str, Any]] = [
    {
        "toolId": "oc_read_get_pods",
        "opType": "read",
        "mode": "live",
        "elapsedMs": 95.2,
        "outcome": "success",
        "errorSummary": None,
        "cleanupCheck": None,
        "anchors": [],
        "timestamp": "2026-03-01T10:00:00.123Z",
        "sessionId": "a1b2",
        "flags": {
            "UNIFIED_MEMORY": True,
            "ENABLE_INSTRUMENTATION": True,
            "ENABLE_VECTOR_WRITES": True,
            "ENABLE_PRESEARCH": False,
            "MCP_LOG_VERBOSE": False,
        },
        "vector": {
            "tenant": "default_tenant",
            "database": "default_database",
            "collection": "openshift_memory",
        },
    },
    {
        "toolId": "oc_diagnostic_cluster_health",
        "opType": "diagnostic",
        "mode": "dry-run",
        "elapsedMs": 428,
        "outcome": "error",
        "errorSummary": "etcd member unhealthy",
        "cleanupCheck": {"leftovers": 0},
        "anchors": ["presearch:hits=2", "ns:openshift-etcd"],
        "timestamp": "2026-03-01T10:00:01.000Z",
        "sessionId": "a1b2",
        "flags": {"UNIFIED_MEMORY": False},
        "vector": None,
    },
]


@pytest.mark.parametrize("record", SEED_RECORDS)
def test_seed_metric_records_round_trip_unchanged(record: dict[str, Any]) -> None:
    parsed = decode(orjson.dumps(record), MetricRecord)
    assert orjson.loads(encode(parsed)) == record
    assert list(orjson.loads(encode(parsed))) == list(record)


def test_seed_record_with_unknown_key_keeps_it() -> None:
    record = dict(SEED_RECORDS[0], customField={"x": 1})
    assert orjson.loads(encode(decode(orjson.dumps(record), MetricRecord))) == record


def test_metric_record_from_event_carries_additive_fields() -> None:
    event = make_event(flags={"ENABLE_PRESEARCH": True})
    out = orjson.loads(encode(MetricRecord.from_event(event)))
    assert out["eventId"] == event.event_id
    assert out["schemaVersion"] == 2
    assert out["timestamp"].endswith("Z")
    assert len(out["timestamp"]) == len("2026-03-01T10:00:00.123Z")
    assert out["errorSummary"] is None
    assert set(SEED_RECORDS[0]) <= set(out)


def test_event_round_trip_and_camel_case() -> None:
    event = make_event(error_summary="etcd member unhealthy", outcome="tool_error")
    data = encode(event)
    wire = orjson.loads(data)
    assert {"eventId", "toolId", "opType", "elapsedMs", "errorSummary", "schemaVersion"} <= set(
        wire
    )
    assert wire["errorSummary"] == "etcd member unhealthy"
    assert decode(data, ToolExecutionEvent) == event


def test_over_long_text_is_rejected_by_the_contract_not_clipped() -> None:
    wire = orjson.loads(encode(make_event()))
    wire.update(errorSummary="x" * 241, resultSummary="é" * 1537)
    with pytest.raises(SchemaDecodeError) as info:
        decode(orjson.dumps(wire), ToolExecutionEvent)
    assert "errorSummary: String should have at most 240 characters" in info.value.reason
    assert "resultSummary: String should have at most 1536 characters" in info.value.reason
    wire.update(errorSummary="x" * 240, resultSummary="é" * 1536)
    assert decode(orjson.dumps(wire), ToolExecutionEvent).result_summary == "é" * 1536


def test_v1_seed_shaped_event_is_upcast_deterministically() -> None:
    data = orjson.dumps(SEED_RECORDS[1])
    first, second = decode(data, ToolExecutionEvent), decode(data, ToolExecutionEvent)
    assert first.event_id == second.event_id
    assert first.outcome == "tool_error"
    assert first.op_type == "diagnostic"
    assert first.elapsed_ms == 428
    assert (first.ended_at - first.started_at).total_seconds() == pytest.approx(0.428)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe garbage", "not valid JSON"),
        (b'{"toolId": "x"', "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"schemaVersion": 3, "toolId": "x"}', "newer than this reader"),
        (b'{"schemaVersion": "2"}', "schemaVersion must be an integer"),
        (b'{"schemaVersion": 0}', "no longer supported"),
        (None, "tombstone"),
    ],
)
def test_bad_input_gives_schema_decode_error(data: bytes | None, fragment: str) -> None:
    with pytest.raises(SchemaDecodeError, match=fragment):
        decode(data, ToolExecutionEvent)


def test_wrong_types_name_the_field_without_echoing_values() -> None:
    wire = orjson.loads(encode(make_event()))
    wire.update(elapsedMs="fast", outcome="exploded", toolId="sk-secretsecretsecretsecret")
    with pytest.raises(SchemaDecodeError) as info:
        decode(orjson.dumps(wire), ToolExecutionEvent)
    assert "elapsedMs" in info.value.reason
    assert "outcome" in info.value.reason
    assert "exploded" not in info.value.reason


def test_oversized_message_is_rejected_with_its_size() -> None:
    with pytest.raises(SchemaDecodeError, match="over the 100-byte limit"):
        decode(b"{" + b" " * 200 + b"}", ToolExecutionEvent, max_bytes=100)


def test_ended_before_started_is_invalid() -> None:
    wire = orjson.loads(encode(make_event()))
    wire["startedAt"], wire["endedAt"] = wire["endedAt"], wire["startedAt"]
    with pytest.raises(SchemaDecodeError, match="before startedAt"):
        decode(orjson.dumps(wire), ToolExecutionEvent)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _failure_reason(data: bytes, model: type[Any]) -> str | None:
    """None if ``data`` decodes, else the reason; any other exception fails the test."""
    try:
        decode(data, model)
    except SchemaDecodeError as exc:
        return exc.reason
    return None


MODELS = [ToolExecutionEvent, MetricRecord, MemoryRecord, EnrichmentEntry, DeadLetter]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), model=st.sampled_from(MODELS))
def test_fuzz_bytes_only_ever_raise_schema_decode_error(data: bytes, model: type[Any]) -> None:
    reason = _failure_reason(data, model)
    assert reason is None or (reason and "\n" not in reason)


@settings(max_examples=300, deadline=None)
@given(value=json_values, model=st.sampled_from(MODELS))
def test_fuzz_json_values_only_ever_raise_schema_decode_error(value: Any, model: type[Any]) -> None:
    reason = _failure_reason(json.dumps(value).encode(), model)  # stdlib: ints beyond 64 bits
    assert reason is None or reason


@settings(max_examples=200, deadline=None)
@given(
    cut=st.integers(min_value=0),
    key=st.sampled_from(
        ["toolId", "elapsedMs", "startedAt", "anchors", "outcome", "tags", "eventId"]
    ),
    value=json_values,
)
def test_fuzz_truncated_or_mistyped_events(cut: int, key: str, value: Any) -> None:
    data = encode(make_event())
    truncated = data[: cut % len(data)]
    with pytest.raises(SchemaDecodeError):
        decode(truncated, ToolExecutionEvent)
    wire = orjson.loads(data)
    wire[key] = value
    try:
        decoded = decode(json.dumps(wire).encode(), ToolExecutionEvent)
    except SchemaDecodeError:
        return
    assert decoded.event_id  # when the mutation happened to be valid, the result is an event


@settings(max_examples=150, deadline=None)
@given(
    picks=st.lists(
        st.sampled_from(["good", "garbage", "future", "v1", "mistyped", "none", "huge"]),
        min_size=1,
        max_size=12,
    )
)
def test_decode_batch_agrees_with_decode_message_by_message(picks: list[str]) -> None:
    future = orjson.loads(encode(make_event()))
    future["schemaVersion"] = 3
    mistyped = orjson.loads(encode(make_event()))
    mistyped["elapsedMs"] = "slow"
    samples: dict[str, bytes | None] = {
        "garbage": b"\x00not json",
        "future": orjson.dumps(future),
        "none": None,
        "v1": orjson.dumps(SEED_RECORDS[0]),
        "mistyped": orjson.dumps(mistyped),
        "huge": b"{" + b" " * 2000 + b"}",
    }
    values = [encode(make_event()) if p == "good" else samples[p] for p in picks]
    batch = decode_batch(values, ToolExecutionEvent, max_bytes=1000)
    assert len(batch) == len(values)
    for value, result in zip(values, batch, strict=True):
        reason = _failure_reason_limited(value, 1000)
        if reason is None:
            assert result == decode(value, ToolExecutionEvent, max_bytes=1000)
        else:
            assert isinstance(result, SchemaDecodeError)
            assert result.reason == reason


def _failure_reason_limited(value: bytes | None, max_bytes: int) -> str | None:
    try:
        decode(value, ToolExecutionEvent, max_bytes=max_bytes)
    except SchemaDecodeError as exc:
        return exc.reason
    return None
