"""One contract on both sides: the reader accepts exactly what the JSON Schema snapshot allows.

Instances are generated from the checked-in snapshot (not from the models), so a producer
written in another language from ``schemas/jsonschema/ToolExecutionEvent.json`` is what these
tests stand for. The only rule JSON Schema cannot state, ``endedAt >= startedAt``, is the
snapshot's ``$comment`` and is applied here by hand.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter

from tests.schema_strategies import ANY_JSON, from_schema, snapshot, validator
from tooltrail.consumers.memory.records import summarize, to_memory
from tooltrail.schemas import MetricRecord, SchemaDecodeError, ToolExecutionEvent, encode
from tooltrail.schemas.codec import decode, decode_batch, decode_one
from tooltrail.schemas.keys import cache_key
from tooltrail.schemas.wire import RFC3339_PATTERN

EVENT_SCHEMA = snapshot("ToolExecutionEvent")
VALIDATOR = validator(EVENT_SCHEMA)
_TIME = TypeAdapter(AwareDatetime)
FIELDS = sorted(EVENT_SCHEMA["properties"])
EDGES = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        2,
        2.0,
        2.5,
        1e300,
        -0.0,
        2**63,
        2**63 - 1,
        604_800_000,
        604_800_000.5,
        "",
        "2",
        "read",
        "ok",
        "x" * 64,
        "x" * 65,
        "x" * 200,
        "x" * 201,
        "x" * 240,
        "x" * 241,
        "é" * 1536,
        "é" * 1537,
        [],
        {},
        ["a"] * 32,
        ["a"] * 33,
        {"k": True},
        {"k": "true"},
        {"x" * 65: True},
        "2026-01-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2024-02-29T23:59:59.123456789+14:00",
        "2100-02-29T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "2026-01-01T00:00:00",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00Z\n",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:60Z",
        "9999-12-31T23:59:59-14:00",
        1767225600,
        {"domain": "x", "severity": "fatal"},
    ]
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def _in_order(instance: dict[str, Any]) -> bool:
    """``endedAt >= startedAt`` where both are date-time strings (else JSON Schema decides)."""
    started, ended = instance.get("startedAt"), instance.get("endedAt")
    if not (isinstance(started, str) and isinstance(ended, str)):
        return True
    try:
        return bool(_TIME.validate_python(ended) >= _TIME.validate_python(started))
    except ValueError:
        return True


def _ordered(instance: dict[str, Any]) -> dict[str, Any]:
    if not _in_order(instance):
        instance["startedAt"], instance["endedAt"] = instance["endedAt"], instance["startedAt"]
    return instance


def _builders_run(event: ToolExecutionEvent) -> None:
    """What every sink builds from an event must never raise."""
    record = MetricRecord.from_event(event)
    orjson.loads(encode(record))
    memory = to_memory(event)
    assert len(memory.document.encode()) <= 1536
    assert summarize(event) == memory.document
    assert cache_key(event.tool_id, event.args).startswith(event.tool_id[:150] + ":")


@SETTINGS
@given(instance=from_schema(EVENT_SCHEMA))
def test_every_event_the_snapshot_allows_is_accepted(instance: dict[str, Any]) -> None:
    instance = _ordered(instance)
    assert VALIDATOR.is_valid(instance)  # the generator itself is right
    event = decode(orjson.dumps(instance), ToolExecutionEvent)
    assert VALIDATOR.is_valid(orjson.loads(encode(event)))  # what we write is valid too
    _builders_run(event)


MUTATED = [*FIELDS, "tags.domain", "tags.environment", "tags.severity", "flags.k"]


@pytest.mark.parametrize("field", MUTATED)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_reader_accepts_exactly_what_the_snapshot_allows(
    field: str, data: st.DataObject
) -> None:
    instance = _ordered(data.draw(from_schema(EVENT_SCHEMA)))
    value, delete = data.draw(EDGES | ANY_JSON), data.draw(st.booleans())
    target, _, sub = field.partition(".")
    if sub:
        inner = instance.get(target) if isinstance(instance.get(target), dict) else {}
        instance[target] = (
            {k: v for k, v in inner.items() if k != sub} if delete else {**inner, sub: value}
        )
    elif delete:
        instance.pop(target, None)
    else:
        instance[target] = value
    expected = VALIDATOR.is_valid(instance) and _in_order(instance)
    result = decode_one(orjson.dumps(instance), ToolExecutionEvent)
    reason = getattr(result, "reason", "accepted")
    assert (not isinstance(result, SchemaDecodeError)) == expected, (field, value, reason)
    if isinstance(result, ToolExecutionEvent):
        _builders_run(result)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2026-11-24T10:00:00Z", True),
        ("2026-11-24T10:00:00.123+05:30", True),
        ("2024-02-29T00:00:00Z", True),
        ("2023-02-29T00:00:00Z", False),
        ("2100-02-29T00:00:00Z", False),
        ("2000-02-29T00:00:00Z", True),
        ("2026-04-31T00:00:00Z", False),
        ("2026-11-24T10:00:00", False),
        ("2026-11-24t10:00:00z", False),
        ("2026-11-24T10:00:00Z\n", False),
        ("9999-12-31T23:59:59-14:00", False),
        ("1969-12-31T23:59:59Z", False),
    ],
)
def test_timestamp_pattern_is_calendar_exact(text: str, valid: bool) -> None:
    assert (
        VALIDATOR.evolve(schema={"type": "string", "pattern": RFC3339_PATTERN}).is_valid(text)
        is valid
    )


def test_snapshot_requires_schema_version_and_states_the_time_rule() -> None:
    assert "schemaVersion" in EVENT_SCHEMA["required"]
    assert EVENT_SCHEMA["properties"]["schemaVersion"]["const"] == 2
    assert "endedAt" in EVENT_SCHEMA["$comment"]


def test_a_required_fields_only_event_is_accepted() -> None:
    minimal = {
        "schemaVersion": 2,
        "eventId": "e-1",
        "toolId": "oc_read_get_pods",
        "sessionId": "s",
        "outcome": "ok",
        "startedAt": "2026-11-24T10:00:00Z",
        "endedAt": "2026-11-24T10:00:00.012Z",
        "elapsedMs": 12,
    }
    assert VALIDATOR.is_valid(minimal)
    assert decode(orjson.dumps(minimal), ToolExecutionEvent).elapsed_ms == 12


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.binary(max_size=200) | ANY_JSON.map(orjson.dumps), max_size=8))
def test_decode_batch_is_total_and_agrees_with_decode_one(values: list[bytes]) -> None:
    out = decode_batch(values, ToolExecutionEvent)
    assert len(out) == len(values)
    for value, result in zip(values, out, strict=True):
        single = decode_one(value, ToolExecutionEvent)
        assert type(result) is type(single)
        if isinstance(result, SchemaDecodeError):
            assert result.reason == getattr(single, "reason", None)
            assert result.__traceback__ is None
            assert result.__context__ is None
            assert "\n" not in result.reason
