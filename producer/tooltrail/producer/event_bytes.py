"""``build_record``: one finished call straight to its record's bytes, without a pydantic model.

This runs on the thread that made the tool call, right after the tool returns (the design in
the README, "The path of one event"), so it is kept cheap: redaction (``calls.redact_call``,
within the per-event budget), then one ``orjson.dumps`` of the wire dict in the model's field
order, with the parts every event of a producer shares (tags, flags, header prefix) encoded
once per settings object. The bytes are exactly what ``encode(build_event(...))`` gives and
what ``ToolExecutionEvent`` accepts: a property test (tests/unit/test_event_bytes.py) holds
the two paths together. A value orjson cannot encode falls back to the model path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from tooltrail.producer.calls import (
    ToolCall,
    build_event,
    classify_op,
    redact_call,
    session_label,
    static_parts,
    tool_label,
    trace_ids,
)
from tooltrail.producer.record import Record
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.base import iso_ms_z
from tooltrail.schemas.codec import encode
from tooltrail.schemas.events import EVENT_SCHEMA_VERSION, ToolExecutionEvent
from tooltrail.schemas.headers import event_headers, traceparent
from tooltrail.schemas.ids import new_event_id


def build_record(call: ToolCall, settings: ProducerSettings, seq: int) -> Record:
    """The record of one finished call (any thread). Raises on a call no event can describe."""
    parts = redact_call(call, settings)
    static = static_parts(settings)
    wall = call.started_wall
    started = datetime.fromtimestamp(wall, tz=UTC)
    ended = datetime.fromtimestamp(wall + call.elapsed_ms / 1000, tz=UTC)
    event_id = new_event_id(int(wall * 1000))
    tool, session = tool_label(call), session_label(call)
    doc: dict[str, Any] = {
        "schemaVersion": EVENT_SCHEMA_VERSION,
        "eventId": event_id,
        "toolId": tool,
        "opType": call.op_type or classify_op(call.tool_id),
        "mode": "default",
        "sessionId": session,
        "incidentId": parts.incident,
        "outcome": call.outcome,
        "startedAt": started,
        "endedAt": ended,
        "elapsedMs": call.elapsed_ms,
        "errorSummary": parts.error,
        "cleanupCheck": None,
        "anchors": parts.anchors,
        "args": parts.args,
        "resultSummary": parts.summary,
        "tags": static.wire_tags[call.outcome],
        "flags": static.wire_flags,
        "serverName": static.server_name,
        "serverHost": static.server_host,
        "producerSeq": seq,
    }
    headers = [
        *static.header_prefix,
        ("ce_id", event_id.encode()),
        ("ce_time", iso_ms_z(ended).encode()),
        ("ce_subject", tool.encode()),
    ]
    trace = trace_ids(call.trace)
    if trace is not None:
        trace_id, span_id, flags = trace
        doc["traceId"], doc["spanId"], doc["traceFlags"] = trace_id, span_id, flags
        headers.append(("traceparent", traceparent(trace_id, span_id, flags)))
    try:
        value = orjson.dumps(doc, option=orjson.OPT_UTC_Z)
    except TypeError:  # a value only pydantic can serialize (an int past 64 bits)
        return record_of(build_event(call, settings, seq))
    return Record(session.encode(), value, ts=int(ended.timestamp() * 1000), headers=headers)


def record_of(event: ToolExecutionEvent) -> Record:
    """The record of an event built as a model (tests, benchmarks, the fallback above)."""
    ts = int(event.ended_at.timestamp() * 1000)
    return Record(event.session_id.encode(), encode(event), ts=ts, headers=event_headers(event))
