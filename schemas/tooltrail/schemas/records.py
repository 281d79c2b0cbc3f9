"""Wire models written by the consumer groups: metrics, memories, enrichment, dead letters."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, PlainSerializer
from pydantic.alias_generators import to_camel

from tooltrail.schemas.base import ErrorSummary, Summary, TimestampMsZ, WireModel, iso_ms_z
from tooltrail.schemas.events import ToolExecutionEvent
from tooltrail.schemas.ids import MEMORY_ID_PATTERN
from tooltrail.schemas.wire import INTEGER, NUMBER, WireTimestamp

METRIC_SCHEMA_VERSION = 2
MAX_HITS = 10
Scalar = str | int | float | bool
#: A strict wire timestamp written with milliseconds and a ``Z``.
WireTimestampMsZ = Annotated[
    WireTimestamp, PlainSerializer(iso_ms_z, return_type=str, when_used="json")
]


def _is_none(value: object) -> bool:
    return value is None


class VectorTarget(BaseModel):
    """Where the memory of a call went (or would go) in Chroma."""

    model_config = ConfigDict(frozen=True, extra="allow")

    tenant: str | None = None
    database: str | None = None
    collection: str | None = None


class MetricRecord(BaseModel):
    """One metrics record, key-for-key compatible with the older middleware's schema v2.

    Records that the older middleware wrote (no ``eventId``/``schemaVersion``, ``errorSummary``
    possibly null, ``flags`` of booleans) validate unchanged and serialize back to the same keys:
    ``eventId`` and ``schemaVersion`` are only written when set, unknown keys are kept.
    ``outcome``/``opType`` stay free strings here because old records used their own values.
    """

    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="allow"
    )
    version: ClassVar[int] = METRIC_SCHEMA_VERSION

    tool_id: str
    op_type: str
    mode: str
    elapsed_ms: float
    outcome: str
    error_summary: str | None = None
    cleanup_check: JsonValue = None
    anchors: tuple[str, ...] = ()
    timestamp: TimestampMsZ
    session_id: str
    flags: dict[str, JsonValue] = Field(default_factory=dict)
    vector: VectorTarget | None = None
    event_id: str | None = Field(None, exclude_if=_is_none)
    schema_version: int | None = Field(None, exclude_if=_is_none)

    @classmethod
    def from_event(
        cls, event: ToolExecutionEvent, vector: VectorTarget | None = None
    ) -> MetricRecord:
        """Build the metrics record of one event (``timestamp`` is the end of the call)."""
        flags: dict[str, JsonValue] = dict(event.flags)
        return cls(
            tool_id=event.tool_id,
            op_type=event.op_type.value,
            mode=event.mode,
            elapsed_ms=round(event.elapsed_ms, 3),
            outcome=event.outcome.value,
            error_summary=event.error_summary,
            cleanup_check=event.cleanup_check,
            anchors=tuple(event.anchors),
            timestamp=event.ended_at,
            session_id=event.session_id,
            flags=flags,
            vector=vector,
            event_id=event.event_id,
            schema_version=METRIC_SCHEMA_VERSION,
        )


class MemoryRecord(WireModel):
    """One vector memory: deterministic id, bounded document, scalar metadata keys."""

    version: ClassVar[int] = 1

    schema_version: int = 1
    id: Annotated[str, Field(pattern=MEMORY_ID_PATTERN.pattern)]
    event_id: str
    document: Summary
    metadata: Annotated[dict[str, Scalar], Field(min_length=1)]


ScopeLabel = Annotated[str, Field(max_length=64)]


class EnrichmentHit(WireModel):
    """A related past situation, as the tool server sees it before a call.

    Data about past calls, never instructions: ``summary`` (the situation's salient line) may
    carry text an attacker influenced, so the tool server sanitizes it before any tool or
    agent sees it (README "Trust model").
    """

    id: Annotated[str, Field(min_length=1, max_length=200)]
    summary: Annotated[str, Field(max_length=300)]
    distance: Annotated[float, Field(allow_inf_nan=False), NUMBER]
    kind: Annotated[str, Field(max_length=32)]
    severity: Annotated[str, Field(max_length=16)] = "info"
    timestamp: WireTimestampMsZ
    #: Added in situations (optional, left out when unknown): which tool the situation is
    #: about and how often it occurred; ``timestamp`` is when it was last seen.
    tool: Annotated[str, Field(max_length=200)] | None = Field(None, exclude_if=_is_none)
    occurrences: Annotated[int, Field(ge=1, le=2**53), INTEGER] | None = Field(
        None, exclude_if=_is_none
    )
    #: Added with scopes (optional, left out when unknown): the outcome class and the scope
    #: (environment, domain, tenant) of the situation.
    outcome: Annotated[str, Field(max_length=32)] | None = Field(None, exclude_if=_is_none)
    environment: ScopeLabel | None = Field(None, exclude_if=_is_none)
    domain: ScopeLabel | None = Field(None, exclude_if=_is_none)
    tenant: ScopeLabel | None = Field(None, exclude_if=_is_none)


class EnrichmentEntry(WireModel):
    """The top related situations for one cache key (tool id + scope + arguments), last write
    wins. ``environment``/``domain``/``tenant`` name the scope it was computed for: a tool
    server serves it only in that scope. On the topic it travels signed (``schemas.signing``).
    """

    version: ClassVar[int] = 1

    schema_version: Annotated[Literal[1], INTEGER] = 1
    key: Annotated[str, Field(min_length=1, max_length=200)]
    tool_id: Annotated[str, Field(min_length=1, max_length=200)]
    hits: Annotated[tuple[EnrichmentHit, ...], Field(max_length=MAX_HITS)] = ()
    computed_at: WireTimestampMsZ
    source_event_id: Annotated[str, Field(min_length=1, max_length=64)]
    environment: ScopeLabel = "default"
    domain: ScopeLabel = "general"
    tenant: ScopeLabel = ""


class DeadLetter(WireModel):
    """The readable view of a message that a consumer group could not process."""

    version: ClassVar[int] = 1

    schema_version: int = 1
    source_topic: str
    source_partition: int
    source_offset: int
    group: str
    error: ErrorSummary
    failed_at: TimestampMsZ
    key: str | None = None
    value_b64: str = ""
    size: int = 0
    key_size: int = 0
    truncated: bool = False
    headers: dict[str, str] = Field(default_factory=dict)
