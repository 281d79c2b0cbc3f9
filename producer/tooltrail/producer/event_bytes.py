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

import math
import time
from typing import Any

import orjson

from tooltrail.producer.calls import (
    ToolCall,
    build_event,
    classify_op,
    clean_parts,
    redact_call,
    session_label,
    static_parts,
    tool_label,
    trace_ids,
)
from tooltrail.producer.record import Record
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.codec import encode
from tooltrail.schemas.events import EVENT_SCHEMA_VERSION, ToolExecutionEvent
from tooltrail.schemas.headers import event_headers, traceparent
from tooltrail.schemas.ids import new_event_id


def build_record(call: ToolCall, settings: ProducerSettings, seq: int) -> Record:
    """The record of one finished call (any thread). Raises on a call no event can describe."""
    static = static_parts(settings)
    parts = clean_parts(call, static.limits)
    if parts is None:
        parts = redact_call(call, settings)
    wall = call.started_wall
    started, _, _ = wire_time(wall)
    ended, ended_ms, ce_time = wire_time(wall + call.elapsed_ms / 1000)
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
        ("ce_time", ce_time),
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
    return Record(session.encode(), value, ts=ended_ms, headers=headers)


#: The last second formatted (``YYYY-MM-DDTHH:MM:SS``): calls of one second share it. One
#: tuple, replaced whole, so a thread never reads a second with another second's text.
_last_second: tuple[int, str] = (-1, "")


def wire_time(t: float) -> tuple[str, int, bytes]:
    """POSIX time ``t`` (seconds, >= 0) as the wire writes it, without a ``datetime``.

    Returns the JSON text of ``datetime.fromtimestamp(t, UTC)`` (what ``orjson`` writes:
    microseconds when not zero, a ``Z``), its ``timestamp()`` in whole milliseconds, and its
    ``iso_ms_z`` (the ``ce_time`` header). The microseconds are rounded exactly as
    ``datetime.fromtimestamp`` rounds them (the fraction times 10⁶, half to even): a property
    test holds the three to the ``datetime`` path for generated times.
    """
    global _last_second
    frac, whole = math.modf(t)
    us = round(frac * 1e6)
    second = int(whole)
    if us >= 1_000_000:
        us -= 1_000_000
        second += 1
    cached, text = _last_second
    if cached != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, text)
    ms = int((second * 1_000_000 + us) / 1_000_000 * 1000)  # datetime.timestamp(), then ms
    iso = f"{text}.{us:06d}Z" if us else f"{text}Z"
    return iso, ms, f"{text}.{us // 1000:03d}Z".encode()


def record_of(event: ToolExecutionEvent) -> Record:
    """The record of an event built as a model (tests, benchmarks, the fallback above)."""
    ts = int(event.ended_at.timestamp() * 1000)
    return Record(event.session_id.encode(), encode(event), ts=ts, headers=event_headers(event))
