"""Record headers: events and entries describe themselves (CloudEvents binary mode, W3C)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import make_event
from tests.schema_strategies import from_schema, snapshot
from tooltrail.schemas import EnrichmentEntry, ToolExecutionEvent, encode, iso_ms_z
from tooltrail.schemas.codec import decode_one
from tooltrail.schemas.headers import (
    ENTRY_TYPE,
    EVENT_TYPE,
    entry_headers,
    event_headers,
    event_headers_of,
)

URI_CHARS = re.compile(r"^[A-Za-z0-9:%._~\-]+$")
EVENTS = (
    from_schema(snapshot("ToolExecutionEvent"))
    .map(lambda doc: decode_one(encode_doc(doc), ToolExecutionEvent))
    .filter(lambda event: isinstance(event, ToolExecutionEvent))  # e.g. endedAt < startedAt
)


def encode_doc(doc: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(doc)


def test_an_event_names_its_type_schema_id_time_source_subject_and_trace() -> None:
    event = make_event(tool_id="oc_read_get_pods").model_copy(
        update={
            "server_name": "ops diag/ü",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "trace_flags": 1,
        }
    )
    headers = dict(event_headers(event))
    assert headers["content-type"] == b"application/json"
    assert headers["tooltrail-schema"] == b"ToolExecutionEvent"
    assert headers["tooltrail-schema-version"] == b"2"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == EVENT_TYPE.encode() == b"dev.tooltrail.tool_call.v2"
    assert headers["ce_id"] == event.event_id.encode()
    assert headers["ce_time"] == iso_ms_z(event.ended_at).encode()
    assert headers["ce_subject"] == b"oc_read_get_pods"
    assert headers["ce_source"] == b"urn:tooltrail:server:ops%20diag%2F%C3%BC"
    assert headers["traceparent"] == b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert "traceparent" not in dict(event_headers(make_event()))


@settings(max_examples=150, deadline=None)
@given(EVENTS)
def test_headers_rebuilt_from_the_bytes_equal_the_events_own(event: ToolExecutionEvent) -> None:
    # a record resent from the outbox gets the same headers and the call's end as timestamp
    headers, stamp = event_headers_of(encode(event))
    assert headers == event_headers(event)
    assert stamp == int(event.ended_at.timestamp() * 1000)
    for name, value in headers:
        assert isinstance(name, str)
        assert isinstance(value, bytes)
    assert URI_CHARS.match(dict(headers)["ce_source"].decode())


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300)
    | st.builds(
        encode_doc,
        st.dictionaries(
            st.sampled_from(
                ["eventId", "endedAt", "toolId", "serverName", "traceId", "spanId", "traceFlags"]
            ),
            st.none() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=40) | st.just([1]),
        ),
    )
)
def test_any_bytes_get_headers_without_raising(value: bytes) -> None:
    headers, stamp = event_headers_of(value)
    names = [name for name, _ in headers]
    assert names[:5] == [
        "content-type",
        "tooltrail-schema",
        "tooltrail-schema-version",
        "ce_specversion",
        "ce_type",
    ]
    assert stamp is None or isinstance(stamp, int)


def test_an_entry_names_its_type_schema_and_the_event_it_came_from() -> None:
    entry = EnrichmentEntry(
        key="k1",
        tool_id="oc_read_get_pods",
        source_event_id="e1",
        computed_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
    )
    headers = dict(entry_headers(entry))
    assert headers["ce_type"] == ENTRY_TYPE.encode() == b"dev.tooltrail.enrichment_entry.v1"
    assert headers["tooltrail-schema"] == b"EnrichmentEntry"
    assert headers["ce_id"] == b"k1@e1"
    assert headers["ce_time"] == b"2026-11-24T09:00:00.000Z"
    assert headers["ce_subject"] == b"oc_read_get_pods"
    assert headers["ce_source"] == b"urn:tooltrail:enrich"
