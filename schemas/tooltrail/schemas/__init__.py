"""tooltrail wire schemas: the models, the one codec, redaction, ids and shared settings.

Imports nothing else of tooltrail; the producer and the workers both build on it.
"""

from tooltrail.schemas.base import MAX_ERROR_SUMMARY_CHARS, MAX_SUMMARY_BYTES, clip_utf8, iso_ms_z
from tooltrail.schemas.codec import decode, describe_validation_error, encode
from tooltrail.schemas.config import KafkaSettings, TooltrailSettings, load_settings
from tooltrail.schemas.errors import SchemaDecodeError, SettingsError, TooltrailError
from tooltrail.schemas.events import (
    EVENT_SCHEMA_VERSION,
    OpType,
    Outcome,
    Severity,
    Tags,
    ToolExecutionEvent,
)
from tooltrail.schemas.ids import memory_id, new_event_id, short_hash
from tooltrail.schemas.records import (
    DeadLetter,
    EnrichmentEntry,
    EnrichmentHit,
    MemoryRecord,
    MetricRecord,
    VectorTarget,
)
from tooltrail.schemas.redact import (
    REDACTED,
    RedactionLimits,
    is_sensitive_key,
    redact,
    redact_text,
)

__all__ = [
    "EVENT_SCHEMA_VERSION",
    "MAX_ERROR_SUMMARY_CHARS",
    "MAX_SUMMARY_BYTES",
    "REDACTED",
    "DeadLetter",
    "EnrichmentEntry",
    "EnrichmentHit",
    "KafkaSettings",
    "MemoryRecord",
    "MetricRecord",
    "OpType",
    "Outcome",
    "RedactionLimits",
    "SchemaDecodeError",
    "SettingsError",
    "Severity",
    "Tags",
    "ToolExecutionEvent",
    "TooltrailError",
    "TooltrailSettings",
    "VectorTarget",
    "clip_utf8",
    "decode",
    "describe_validation_error",
    "encode",
    "is_sensitive_key",
    "iso_ms_z",
    "load_settings",
    "memory_id",
    "new_event_id",
    "redact",
    "redact_text",
    "short_hash",
]
