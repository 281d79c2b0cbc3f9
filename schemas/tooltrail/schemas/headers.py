"""Kafka record headers that make events and entries self-describing.

Every event and enrichment entry travels with:

* ``content-type: application/json`` and ``tooltrail-schema`` / ``tooltrail-schema-version``
  (the model's name and its ``schemaVersion``);
* CloudEvents 1.0 Kafka binary-mode attributes: ``ce_specversion``, ``ce_type``
  (``dev.tooltrail.<kind>.v<version>``), ``ce_source``, ``ce_id`` (the event id, unique per
  source), ``ce_time`` (when the call ended) and ``ce_subject`` (the tool);
* ``traceparent`` (W3C Trace Context) when the event carries the ids of an OpenTelemetry span.

The value stays the plain JSON document; headers only describe it, and no consumer needs
them. ``event_headers_of`` rebuilds an event's headers from its encoded bytes (records resent
from the outbox), so the outbox stores key and value only.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import orjson

from tooltrail.schemas.base import iso_ms_z
from tooltrail.schemas.events import ToolExecutionEvent
from tooltrail.schemas.records import EnrichmentEntry

Header = tuple[str, bytes]
CONTENT_TYPE = "application/json"
EVENT_TYPE = f"dev.tooltrail.tool_call.v{ToolExecutionEvent.version}"
ENTRY_TYPE = f"dev.tooltrail.enrichment_entry.v{EnrichmentEntry.version}"
ENTRY_SOURCE = "urn:tooltrail:enrich"


def _fixed(model: type[Any], ce_type: str) -> tuple[Header, ...]:
    return (
        ("content-type", CONTENT_TYPE.encode()),
        ("tooltrail-schema", model.__name__.encode()),
        ("tooltrail-schema-version", str(model.version).encode()),
        ("ce_specversion", b"1.0"),
        ("ce_type", ce_type.encode()),
    )


_EVENT_FIXED = _fixed(ToolExecutionEvent, EVENT_TYPE)
_ENTRY_FIXED = (*_fixed(EnrichmentEntry, ENTRY_TYPE), ("ce_source", ENTRY_SOURCE.encode()))


@lru_cache(maxsize=256)
def event_source(server_name: str) -> bytes:
    """``ce_source`` of a tool server's events: a URN naming the server (percent-encoded)."""
    return f"urn:tooltrail:server:{quote(server_name, safe='')}".encode()


@lru_cache(maxsize=256)
def event_header_prefix(server_name: str) -> tuple[Header, ...]:
    """The headers every event of one server shares (fixed ones and ``ce_source``), built once."""
    return (*_EVENT_FIXED, ("ce_source", event_source(server_name)))


def traceparent(trace_id: str, span_id: str, flags: int | None) -> bytes:
    """A W3C ``traceparent`` (version 00) for the given ids."""
    return f"00-{trace_id}-{span_id}-{(flags or 0) & 0xFF:02x}".encode()


def event_headers(event: ToolExecutionEvent) -> list[Header]:
    """The headers of one event's record."""
    return _event_headers(
        event.event_id,
        iso_ms_z(event.ended_at),
        event.server_name,
        event.tool_id,
        event.trace_id,
        event.span_id,
        event.trace_flags,
    )


def _event_headers(
    event_id: str,
    ended: str,
    server: str,
    tool: str,
    trace_id: str | None,
    span_id: str | None,
    flags: int | None,
) -> list[Header]:
    headers = [
        *event_header_prefix(server),
        ("ce_id", event_id.encode()),
        ("ce_time", ended.encode()),
        ("ce_subject", tool.encode()),
    ]
    if trace_id and span_id:
        headers.append(("traceparent", traceparent(trace_id, span_id, flags)))
    return headers


def event_headers_of(value: bytes) -> tuple[list[Header], int | None]:
    """Headers and record timestamp (ms, the call's end) of an encoded event; never raises.

    For bytes that are not an event object (they were valid when spilled, so this means a
    damaged outbox), the fixed headers only and no timestamp: the record still goes out.
    """
    try:
        doc = orjson.loads(value)
        ended = datetime.fromisoformat(_text(doc["endedAt"]))
        stamp = int(ended.timestamp() * 1000) if ended.tzinfo is not None else None
        headers = _event_headers(
            _text(doc["eventId"]),
            iso_ms_z(ended),
            _text(doc.get("serverName", "unknown")),
            _text(doc["toolId"]),
            _optional(doc.get("traceId")),
            _optional(doc.get("spanId")),
            doc.get("traceFlags") if type(doc.get("traceFlags")) is int else None,
        )
    except Exception:  # noqa: BLE001 - a header must never cost the record
        return list(_EVENT_FIXED), None
    return headers, stamp


def entry_headers(entry: EnrichmentEntry) -> list[Header]:
    """The headers of one enrichment entry's record (``ce_id`` names key and source event)."""
    return [
        *_ENTRY_FIXED,
        ("ce_id", f"{entry.key}@{entry.source_event_id}".encode()),
        ("ce_time", iso_ms_z(entry.computed_at).encode()),
        ("ce_subject", entry.tool_id.encode()),
    ]


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _optional(value: Any) -> str | None:
    return value if isinstance(value, str) else None
