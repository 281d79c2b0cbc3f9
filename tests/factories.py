"""Builders of valid wire objects for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tooltrail.schemas import ToolExecutionEvent, new_event_id


def make_event(**overrides: Any) -> ToolExecutionEvent:
    """A valid event of a 12.5 ms ``oc_read_get_pods`` call; keyword arguments override fields."""
    ended = overrides.pop("ended_at", datetime.now(UTC))
    elapsed = overrides.pop("elapsed_ms", 12.5)
    fields: dict[str, Any] = {
        "event_id": new_event_id(),
        "tool_id": "oc_read_get_pods",
        "op_type": "read",
        "session_id": "sess-1",
        "outcome": "ok",
        "started_at": ended - timedelta(milliseconds=elapsed),
        "ended_at": ended,
        "elapsed_ms": elapsed,
        "args": {"namespace": "openshift-etcd"},
        "result_summary": "3 pods Running",
        "anchors": ("ns:openshift-etcd",),
    }
    fields.update(overrides)
    return ToolExecutionEvent(**fields)


def taken_events(producer: Any, limit: int = 1000) -> list[ToolExecutionEvent]:
    """The events a producer holds for its sender (removed from it), decoded from their bytes."""
    from tooltrail.schemas import decode

    return [decode(record.value, ToolExecutionEvent) for record in producer.take(limit)]
