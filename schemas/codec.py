"""The one codec every part of tooltrail uses: ``encode(model)`` and ``decode(data, Model)``.

Decoding upcasts older ``schemaVersion``s step by step and turns every failure (not JSON,
not an object, wrong types, future version, oversized) into one ``SchemaDecodeError`` whose
reason never echoes the payload (it may go into a dead-letter header).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.errors import SchemaDecodeError
from schemas.events import ToolExecutionEvent

M = TypeVar("M", bound=BaseModel)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

DEFAULT_MAX_BYTES = 1_048_576
_SEED_NAMESPACE = uuid.UUID("5d1b0c2e-7f3a-4e8b-9a61-2b7c3f0e4d19")
_OUTCOMES = {
    "ok": "ok", "success": "ok", "succeeded": "ok", "completed": "ok",
    "error": "tool_error", "failure": "tool_error", "failed": "tool_error",
    "tool_error": "tool_error", "protocol_error": "protocol_error",
    "cancelled": "cancelled", "canceled": "cancelled", "timeout": "cancelled",
}  # fmt: skip


def encode(model: BaseModel) -> bytes:
    """Serialize a wire model to compact JSON bytes with camelCase keys (pydantic-core, in Rust)."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


def decode_batch(
    values: Sequence[bytes | bytearray | memoryview | str | None],
    model: type[M],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[M | SchemaDecodeError]:
    """Decode many messages; each result is the model or the ``SchemaDecodeError`` for it.

    Same outcome as ``decode`` per value, about twice as fast: each value is parsed on its
    own (so one message can never bleed into another), then all current-version objects are
    validated in one pydantic-core call. Older versions, and any batch holding an invalid
    message, take the per-message path.
    """
    current = int(getattr(model, "version", 1))
    out: list[M | SchemaDecodeError | None] = [None] * len(values)
    fast: list[int] = []
    objects: list[Any] = []
    for i, value in enumerate(values):
        raw = value if isinstance(value, bytes | bytearray | memoryview | str) else None
        if raw is None or len(raw) > max_bytes:
            out[i] = _error(value, model, max_bytes)
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            out[i] = _error(value, model, max_bytes)
            continue
        if isinstance(obj, dict) and obj.get("schemaVersion") == current:
            fast.append(i)
            objects.append(obj)
        else:
            out[i] = _error(value, model, max_bytes)
    if objects:
        try:
            for i, item in zip(fast, _list_adapter(model).validate_python(objects), strict=True):
                out[i] = item
        except ValidationError:
            for i in fast:
                out[i] = _error(values[i], model, max_bytes)
    return [r if r is not None else SchemaDecodeError(model.__name__, "not decoded") for r in out]


def _error(value: Any, model: type[M], max_bytes: int) -> M | SchemaDecodeError:
    try:
        return decode(value, model, max_bytes=max_bytes)
    except SchemaDecodeError as exc:
        return exc


@functools.cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def decode(
    data: bytes | bytearray | memoryview | str | None,
    model: type[M],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> M:
    """Parse ``data`` into ``model``, upcasting older schema versions.

    Raises:
        SchemaDecodeError: for any input that is not a valid ``model`` message.
    """
    name = model.__name__
    if data is None:
        raise SchemaDecodeError(name, "message has no value (tombstone)")
    if not isinstance(data, bytes | bytearray | memoryview | str):
        raise SchemaDecodeError(name, f"expected bytes, got {type(data).__name__}")
    size = len(data)
    if size > max_bytes:
        raise SchemaDecodeError(name, f"message is {size} bytes, over the {max_bytes}-byte limit")
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SchemaDecodeError(name, f"not valid JSON ({exc.msg} at byte {exc.pos})") from None
    if not isinstance(raw, dict):
        raise SchemaDecodeError(name, f"expected a JSON object, got {type(raw).__name__}")
    raw = _upcast(name, raw, int(getattr(model, "version", 1)))
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise SchemaDecodeError(name, describe_validation_error(exc)) from None
    except (ValueError, TypeError, RecursionError) as exc:  # defensive: custom validators
        raise SchemaDecodeError(name, f"{type(exc).__name__}: {str(exc)[:200]}") from None


def describe_validation_error(exc: ValidationError, limit: int = 3) -> str:
    """One line naming each bad field and what was wrong, without echoing input values."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in errors]
    more = f"; and {len(parts) - limit} more" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def _upcast(name: str, raw: dict[str, Any], current: int) -> dict[str, Any]:
    version = raw.get("schemaVersion")
    if version is None:  # older writers omitted it
        version = _MISSING_VERSION.get(name, current)
    if not isinstance(version, int) or isinstance(version, bool):
        raise SchemaDecodeError(name, "schemaVersion must be an integer")
    if version > current:
        raise SchemaDecodeError(
            name, f"schemaVersion {version} is newer than this reader (knows {current}); upgrade"
        )
    while version < current:
        step = _UPCASTERS.get((name, version))
        if step is None:
            raise SchemaDecodeError(name, f"schemaVersion {version} is no longer supported")
        raw = step(raw)
        version += 1
    return raw


def _event_v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """v1 is the per-call record of the older inline middleware (seed metrics shape)."""
    try:
        ended = datetime.fromisoformat(str(raw["timestamp"]).replace("Z", "+00:00"))
        elapsed = float(raw.get("elapsedMs") or 0.0)
    except (KeyError, ValueError, TypeError) as exc:
        raise SchemaDecodeError("ToolExecutionEvent", f"v1 record lacks a usable {exc}") from None
    if ended.tzinfo is None:
        ended = ended.replace(tzinfo=UTC)
    outcome = _OUTCOMES.get(str(raw.get("outcome", "")).lower())
    if outcome is None:
        outcome = "tool_error" if raw.get("errorSummary") else "ok"
    flags = raw.get("flags") or {}
    canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=str)
    return {
        "schemaVersion": 2,
        "eventId": str(uuid.uuid5(_SEED_NAMESPACE, canonical.decode())),
        "toolId": raw.get("toolId"),
        "opType": raw.get("opType") if raw.get("opType") in _OP_TYPES else "other",
        "mode": raw.get("mode") or "default",
        "sessionId": raw.get("sessionId") or "unknown",
        "outcome": outcome,
        "startedAt": (ended - timedelta(milliseconds=elapsed)).isoformat(),
        "endedAt": ended.isoformat(),
        "elapsedMs": elapsed,
        "errorSummary": raw.get("errorSummary"),
        "cleanupCheck": None if raw.get("cleanupCheck") is None else str(raw["cleanupCheck"]),
        "anchors": raw.get("anchors") or [],
        "flags": {k: v for k, v in flags.items() if isinstance(v, bool)},
    }


_OP_TYPES = {"read", "write", "diagnostic", "memory", "workflow", "other"}
#: Version assumed when a message carries no ``schemaVersion`` (older writers omitted it).
_MISSING_VERSION: dict[str, int] = {ToolExecutionEvent.__name__: 1, "MetricRecord": 2}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {
    (ToolExecutionEvent.__name__, 1): _event_v1_to_v2,
}
