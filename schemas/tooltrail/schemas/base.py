"""The base of every wire model, and the bounded-text helpers the models share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

MAX_SUMMARY_BYTES = 1536
#: The wire bound of a result summary in characters (JSON Schema counts characters, not bytes).
MAX_SUMMARY_CHARS = 1536
MAX_ERROR_SUMMARY_CHARS = 240


def _wire_schema(schema: dict[str, Any], cls: type[Any]) -> None:
    """``schemaVersion`` is required on the wire, although Python callers may omit it."""
    if "schemaVersion" in schema.get("properties", {}):
        schema["required"] = ["schemaVersion", *schema.get("required", [])]
    comment = getattr(cls, "schema_comment", None)
    if comment:
        schema["$comment"] = comment


class WireModel(BaseModel):
    """Frozen, camelCase on the wire, snake_case in Python; unknown keys (newer minors) ignored."""

    model_config = ConfigDict(
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        ser_json_inf_nan="null",
        json_schema_extra=_wire_schema,
    )


def clip_utf8(text: str, limit: int) -> str:
    """Return ``text`` cut to at most ``limit`` UTF-8 bytes, never splitting a character.

    A cut text ends with ``…`` (which counts towards the limit).
    """
    if len(text) <= limit and (text.isascii() or len(text) * 4 <= limit):
        return text  # fits whatever its characters encode to (no copy made to find out)
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: max(limit - 3, 0)].decode(errors="ignore") + "…"


def first_line(value: Any, limit: int = MAX_ERROR_SUMMARY_CHARS) -> Any:
    """Reduce an error message to its first non-empty line, at most ``limit`` characters."""
    if not isinstance(value, str):
        return value
    line = next((part.strip() for part in value.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _clip_summary(value: Any) -> Any:
    return clip_utf8(value, MAX_SUMMARY_BYTES) if isinstance(value, str) else value


def iso_ms_z(value: datetime) -> str:
    """Format an aware datetime as ISO 8601 in UTC with milliseconds and a ``Z``."""
    # isoformat of a UTC datetime always ends in "+00:00"; about twice as fast as strftime
    if value.tzinfo is not UTC:  # the producer's own datetimes already are (no new object)
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


#: Error text: first line only, at most 240 characters.
ErrorSummary = Annotated[str, BeforeValidator(first_line)]
#: Free text bounded to 1.5 KB of UTF-8.
Summary = Annotated[str, BeforeValidator(_clip_summary)]
#: A timestamp written as ``2026-11-23T21:42:54.123Z`` on the wire.
TimestampMsZ = Annotated[
    AwareDatetime, PlainSerializer(iso_ms_z, return_type=str, when_used="json")
]
