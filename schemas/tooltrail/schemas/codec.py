"""The one codec every part of tooltrail uses: ``encode(model)`` and ``decode(data, Model)``.

Decoding is total: every input becomes the model or one ``SchemaDecodeError`` (not JSON, not
an object, wrong types, out of bounds, future version, oversized, too deep, or anything a
validator or upcaster raises). Reasons are one line and never echo the payload: no values,
and map keys that are not field names are shown as ``*`` (they may go into a dead-letter
header). ``decode_batch`` returns errors instead of raising them, and those errors carry no
traceback or context, so a batch full of bad messages does not keep the batch alive.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from tooltrail.schemas.base import MAX_ERROR_SUMMARY_CHARS, first_line
from tooltrail.schemas.errors import SchemaDecodeError
from tooltrail.schemas.events import MAX_ANCHOR_CHARS, MAX_ANCHORS, ToolExecutionEvent
from tooltrail.schemas.wire import MAX_ELAPSED_MS, MAX_YEAR, MIN_YEAR

M = TypeVar("M", bound=BaseModel)
Upcaster = Callable[[dict[str, Any]], dict[str, Any] | str]
Raw = bytes | bytearray | memoryview | str | None

DEFAULT_MAX_BYTES = 1_048_576
_SEED_NAMESPACE = uuid.UUID("5d1b0c2e-7f3a-4e8b-9a61-2b7c3f0e4d19")
_OUTCOMES = {
    "ok": "ok",
    "success": "ok",
    "succeeded": "ok",
    "completed": "ok",
    "error": "tool_error",
    "failure": "tool_error",
    "failed": "tool_error",
    "tool_error": "tool_error",
    "protocol_error": "protocol_error",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "timeout": "cancelled",
}


def encode(model: BaseModel) -> bytes:
    """Serialize a wire model to compact JSON bytes with camelCase keys (pydantic-core, in Rust)."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


def decode(data: Raw, model: type[M], *, max_bytes: int = DEFAULT_MAX_BYTES) -> M:
    """Parse ``data`` into ``model``, upcasting older schema versions.

    Raises:
        SchemaDecodeError: for any input that is not a valid ``model`` message.
    """
    result = decode_one(data, model, max_bytes=max_bytes)
    if isinstance(result, SchemaDecodeError):
        raise result
    return result


def decode_one(
    data: Raw, model: type[M], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> M | SchemaDecodeError:
    """``decode`` without raising: the model, or the ``SchemaDecodeError`` (no traceback)."""
    name = model.__name__
    try:
        parsed = _parse(data, name, max_bytes)
        if isinstance(parsed, str):
            return SchemaDecodeError(name, parsed)
        raw = _upcast(name, parsed, int(getattr(model, "version", 1)))
        if isinstance(raw, str):
            return SchemaDecodeError(name, raw)
        problem = _validate(model, raw)
    except Exception as exc:  # noqa: BLE001 - the decoder is total: anything becomes a reason
        problem = f"cannot be decoded ({type(exc).__name__})"
    return SchemaDecodeError(name, problem) if isinstance(problem, str) else problem


def decode_batch(
    values: Sequence[Raw], model: type[M], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[M | SchemaDecodeError]:
    """Decode many messages; each result is the model or the ``SchemaDecodeError`` for it.

    Same outcome as ``decode_one`` per value, about twice as fast: each value is parsed on its
    own (one message never bleeds into another), then all current-version objects are
    validated in one pydantic-core call; if that call fails, they are validated one by one.
    """
    current = int(getattr(model, "version", 1))
    out: list[M | SchemaDecodeError | None] = [None] * len(values)
    fast: list[int] = []
    objects: list[dict[str, Any]] = []
    for i, value in enumerate(values):
        try:
            parsed = _parse(value, model.__name__, max_bytes)
        except Exception:  # noqa: BLE001 - decode_one below gives the reason
            parsed = None
        if isinstance(parsed, dict) and _version(parsed.get("schemaVersion")) == current:
            fast.append(i)
            objects.append(parsed)
        else:
            out[i] = decode_one(value, model, max_bytes=max_bytes)
    if objects and not _validate_all(model, fast, objects, out):
        for i in fast:
            out[i] = decode_one(values[i], model, max_bytes=max_bytes)
    return [r if r is not None else SchemaDecodeError(model.__name__, "not decoded") for r in out]


def _validate_all(
    model: type[M],
    fast: list[int],
    objects: list[dict[str, Any]],
    out: list[M | SchemaDecodeError | None],
) -> bool:
    try:
        items = _list_adapter(model).validate_python(objects)
    except Exception:  # noqa: BLE001 - one bad object: the caller validates one by one
        return False
    for i, item in zip(fast, items, strict=True):
        out[i] = item
    return True


@functools.cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _parse(data: Raw, name: str, max_bytes: int) -> dict[str, Any] | str:
    """The JSON object in ``data``, or the reason it is not one."""
    if data is None:
        return "message has no value (tombstone)"
    if not isinstance(data, bytes | bytearray | memoryview | str):
        return f"expected bytes, got {type(data).__name__}"
    size = len(data)
    if size > max_bytes:
        return f"message is {size} bytes, over the {max_bytes}-byte limit"
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at byte {exc.pos})"
    if not isinstance(raw, dict):
        return f"expected a JSON object, got {type(raw).__name__}"
    return raw


def _validate(model: type[M], raw: dict[str, Any]) -> M | str:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        return describe_validation_error(exc)


def describe_validation_error(exc: ValidationError, limit: int = 3) -> str:
    """One line naming each bad field and what was wrong, without echoing input values."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [f"{_location(err['loc'])}: {_message(err)}" for err in errors]
    more = f"; and {len(parts) - limit} more" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def _location(loc: tuple[int | str, ...]) -> str:
    """``flags.*`` for a map key from the payload; field names and list indexes as they are."""
    known = _field_names()
    return ".".join(str(p) if isinstance(p, int) or p in known else "*" for p in loc) or "<root>"


def _message(err: Any) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    return first_line(msg, 160) if err["type"] != "string_pattern_mismatch" else "bad format"


def _version(value: Any) -> int | None:
    """A JSON integer (``2`` or ``2.0``) as an int; None for anything else."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _upcast(name: str, raw: dict[str, Any], current: int) -> dict[str, Any] | str:
    """Step ``raw`` up to the current version, or return why it cannot be."""
    found = raw.get("schemaVersion")
    version = _MISSING_VERSION.get(name, current) if found is None else _version(found)
    if version is None:
        return "schemaVersion must be an integer"
    if version > current:
        return f"schemaVersion {version} is newer than this reader (knows {current}); upgrade"
    while version < current:
        step = _UPCASTERS.get((name, version))
        if step is None:
            return f"schemaVersion {version} is no longer supported"
        stepped = step(raw)
        if isinstance(stepped, str):
            return stepped
        raw, version = stepped, version + 1
    return raw


def _v1_time(raw: dict[str, Any]) -> tuple[datetime, float] | str:
    stamp, elapsed = raw.get("timestamp"), raw.get("elapsedMs") or 0.0
    if not isinstance(stamp, str) or len(stamp) > 64:
        return "v1 record needs a timestamp string"
    try:
        ended = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "v1 record has an unreadable timestamp"
    ended = ended if ended.tzinfo is not None else ended.replace(tzinfo=UTC)
    if not MIN_YEAR < ended.year < MAX_YEAR:
        return f"v1 record has a timestamp outside {MIN_YEAR}-{MAX_YEAR}"
    if isinstance(elapsed, bool) or not isinstance(elapsed, int | float):
        return "v1 record has a non-numeric elapsedMs"
    if not 0 <= elapsed <= MAX_ELAPSED_MS:  # also false for NaN
        return f"v1 record has an elapsedMs outside 0-{MAX_ELAPSED_MS}"
    return ended, float(elapsed)


def _text(value: Any, limit: int) -> Any:
    return value[:limit] if isinstance(value, str) else value


def _event_v1_to_v2(raw: dict[str, Any]) -> dict[str, Any] | str:
    """v1 is the per-call record of the older inline middleware (seed metrics shape)."""
    timing = _v1_time(raw)
    if isinstance(timing, str):
        return timing
    ended, elapsed = timing
    outcome = _OUTCOMES.get(str(raw.get("outcome", "")).lower()[:32])
    if outcome is None:
        outcome = "tool_error" if raw.get("errorSummary") else "ok"
    flags, anchors, cleanup = raw.get("flags"), raw.get("anchors"), raw.get("cleanupCheck")
    session, op_type = raw.get("sessionId"), raw.get("opType")
    error = raw.get("errorSummary")
    canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    return {
        "schemaVersion": 2,
        "eventId": str(uuid.uuid5(_SEED_NAMESPACE, canonical.decode())),
        "toolId": _text(raw.get("toolId"), 200),
        "opType": op_type if isinstance(op_type, str) and op_type in _OP_TYPES else "other",
        "mode": _text(raw.get("mode"), 64) if isinstance(raw.get("mode"), str) else "default",
        "sessionId": session[:200] if isinstance(session, str) and session else "unknown",
        "outcome": outcome,
        "startedAt": (ended - timedelta(milliseconds=elapsed)).isoformat(),
        "endedAt": ended.isoformat(),
        "elapsedMs": elapsed,
        "errorSummary": first_line(error, MAX_ERROR_SUMMARY_CHARS),
        "cleanupCheck": None if cleanup is None else _cleanup_text(cleanup),
        "anchors": [_text(a, MAX_ANCHOR_CHARS) for a in anchors[:MAX_ANCHORS]]
        if isinstance(anchors, list)
        else [],
        "flags": {k[:64]: v for k, v in flags.items() if isinstance(v, bool)}
        if isinstance(flags, dict)
        else {},
    }


def _cleanup_text(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text[:200]


_OP_TYPES = {"read", "write", "diagnostic", "memory", "workflow", "other"}
#: Version assumed when a message carries no ``schemaVersion`` (older writers omitted it).
_MISSING_VERSION: dict[str, int] = {ToolExecutionEvent.__name__: 1, "MetricRecord": 2}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {
    (ToolExecutionEvent.__name__, 1): _event_v1_to_v2,
}


@functools.cache
def _field_names() -> frozenset[str]:
    """Every property name of every wire model (built on the first error, not at import)."""
    from tooltrail.schemas.jsonschemas import WIRE_MODELS

    names: set[str] = set()
    for model in WIRE_MODELS:
        schema = model.model_json_schema(by_alias=True)
        for part in [schema, *schema.get("$defs", {}).values()]:
            names.update(part.get("properties", {}))
    return frozenset(names)
