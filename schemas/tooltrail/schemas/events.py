"""``ToolExecutionEvent``: one tool call, as the producer puts it on the events topic."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, JsonValue, field_validator, model_validator

from tooltrail.schemas.base import MAX_ERROR_SUMMARY_CHARS, MAX_SUMMARY_CHARS, WireModel
from tooltrail.schemas.wire import INTEGER, MAX_ELAPSED_MS, MAX_INT, NUMBER, WireBool, WireTimestamp

EVENT_SCHEMA_VERSION = 2
MAX_ANCHORS = 32
MAX_ANCHOR_CHARS = 200
MAX_FLAGS = 64


def _hex_id(digits: int) -> Any:
    """Lowercase hex as in a W3C ``traceparent``; all zeros (the invalid id) is refused too.

    The snapshot's pattern ends with ``$(?!\n)`` as wire.py explains; pydantic's (Rust)
    engine has no look-ahead, and its ``$`` already means the end of the text.
    """
    return Field(
        pattern=rf"^[0-9a-f]{{{digits}}}$",
        json_schema_extra={
            "pattern": rf"^[0-9a-f]{{{digits}}}$(?!\n)",
            "not": {"const": "0" * digits},
        },
    )


#: Optional fields added within version 2 are left out of the JSON when unset.
_ABSENT: Any = Field(None, exclude_if=lambda value: value is None)


class OpType(StrEnum):
    """What a tool does; drives classification of metrics and memories."""

    READ = "read"
    WRITE = "write"
    DIAGNOSTIC = "diagnostic"
    MEMORY = "memory"
    WORKFLOW = "workflow"
    OTHER = "other"


class Outcome(StrEnum):
    """How a tool call ended, as the MCP SDKs' own telemetry classifies it."""

    OK = "ok"
    TOOL_ERROR = "tool_error"
    PROTOCOL_ERROR = "protocol_error"
    CANCELLED = "cancelled"


class Severity(StrEnum):
    """How much a call matters to an operator looking back."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


Anchor = Annotated[str, Field(max_length=MAX_ANCHOR_CHARS)]
Label = Annotated[str, Field(min_length=1, max_length=64)]
FlagName = Annotated[str, Field(max_length=64)]


class Tags(WireModel):
    """Scalar labels copied into metric flags and memory metadata."""

    domain: Label = "general"
    environment: Label = "default"
    severity: Severity = Severity.INFO


class ToolExecutionEvent(WireModel):
    """One tool call: timed, classified and already redacted by the producer.

    Wire format: camelCase keys, ``schemaVersion`` 2 (required). Every bound is part of the
    model and therefore of the JSON Schema snapshot; the one rule JSON Schema cannot say is
    ``endedAt >= startedAt``. Producers bound and redact their text before building an event.
    """

    version: ClassVar[int] = EVENT_SCHEMA_VERSION
    schema_comment: ClassVar[str] = "endedAt must not be before startedAt"

    schema_version: Annotated[Literal[2], INTEGER] = 2
    event_id: Annotated[str, Field(min_length=1, max_length=64)]
    tool_id: Annotated[str, Field(min_length=1, max_length=200)]
    op_type: OpType = OpType.OTHER
    mode: Annotated[str, Field(max_length=64)] = "default"
    session_id: Annotated[str, Field(min_length=1, max_length=200)]
    incident_id: Annotated[str, Field(max_length=200)] | None = None
    outcome: Outcome
    started_at: WireTimestamp
    ended_at: WireTimestamp
    elapsed_ms: Annotated[float, Field(ge=0, le=MAX_ELAPSED_MS, allow_inf_nan=False), NUMBER]
    error_summary: Annotated[str, Field(max_length=MAX_ERROR_SUMMARY_CHARS)] | None = None
    cleanup_check: Annotated[str, Field(max_length=200)] | None = None
    anchors: Annotated[tuple[Anchor, ...], Field(max_length=MAX_ANCHORS)] = ()
    args: dict[str, JsonValue] = Field(default_factory=dict)
    result_summary: Annotated[str, Field(max_length=MAX_SUMMARY_CHARS)] | None = None
    tags: Tags = Field(default_factory=Tags)
    flags: Annotated[dict[FlagName, WireBool], Field(max_length=MAX_FLAGS)] = Field(
        default_factory=dict
    )
    server_name: Annotated[str, Field(max_length=200)] = "unknown"
    server_host: Annotated[str, Field(max_length=200)] = "unknown"
    producer_seq: Annotated[int, Field(ge=0, le=MAX_INT), INTEGER] = 0
    # W3C trace context of the OpenTelemetry span that was current in the tool call, if any
    trace_id: Annotated[str, _hex_id(32)] | None = _ABSENT
    span_id: Annotated[str, _hex_id(16)] | None = _ABSENT
    trace_flags: Annotated[int, Field(ge=0, le=255), INTEGER] | None = _ABSENT

    @model_validator(mode="after")
    def _ended_after_started(self) -> ToolExecutionEvent:
        if self.ended_at < self.started_at:
            raise ValueError("endedAt is before startedAt")
        return self

    @field_validator("trace_id", "span_id")
    @classmethod
    def _not_invalid_id(cls, value: str | None) -> str | None:
        if value is not None and not value.strip("0"):
            raise ValueError("an all-zero trace or span id is the invalid id")
        return value

    @property
    def scope(self) -> str:
        """The incident id if the call belongs to one, else the session id."""
        return self.incident_id or self.session_id
