"""The one codec every part of tooltrail uses: ``encode(model)`` and ``decode(data, Model)``.

Decoding is total: every input becomes the model or one ``SchemaDecodeError`` (not JSON, not
an object, wrong types, out of bounds, future version, oversized, or anything a validator or
upcaster raises). Before anything is parsed, the bytes are checked against ``DecodeLimits``
(depth, values, items per array or object, string length: ``bounds.py``), so a hostile
message costs a scan of its bytes, not the objects it would grow into. A lone UTF-16
surrogate escape (``"…\\ud83d"``: a string cut inside an emoji, as ``JSON.stringify``
writes it) is read as U+FFFD. Reasons are one line of at most ``MAX_REASON_BYTES``, lead
with the cause, and never echo the payload: no values, and map keys that are not field
names are shown as ``*`` (they go into a dead-letter header); a long location is elided in
the middle. ``decode_batch`` returns errors instead of raising them, and those errors carry
no traceback or context, so a batch full of bad messages does not keep the batch alive.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from tooltrail.schemas.base import clip_utf8, first_line
from tooltrail.schemas.bounds import (
    DEFAULT_LIMITS,
    DecodeLimits,
    over_limits,
    repair_lone_surrogates,
)
from tooltrail.schemas.errors import SchemaDecodeError
from tooltrail.schemas.upcasts import MISSING_VERSION, UPCASTERS

M = TypeVar("M", bound=BaseModel)
Raw = bytes | bytearray | memoryview | str | None

DEFAULT_MAX_BYTES = 1_048_576
#: A reason fits the dead-letter topic's 1,000-byte ``error`` header with room to spare.
MAX_REASON_BYTES = 900
_MAX_LOCATION_CHARS = 64


def encode(model: BaseModel) -> bytes:
    """Serialize a wire model to compact JSON bytes with camelCase keys (pydantic-core, in Rust)."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


def decode(
    data: Raw,
    model: type[M],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> M:
    """Parse ``data`` into ``model``, upcasting older schema versions.

    Raises:
        SchemaDecodeError: for any input that is not a valid ``model`` message.
    """
    result = decode_one(data, model, max_bytes=max_bytes, limits=limits)
    if isinstance(result, SchemaDecodeError):
        raise result
    return result


def decode_one(
    data: Raw,
    model: type[M],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> M | SchemaDecodeError:
    """``decode`` without raising: the model, or the ``SchemaDecodeError`` (no traceback)."""
    name = model.__name__
    try:
        parsed = _parse(data, max_bytes, limits)
        if isinstance(parsed, str):
            return _error(name, parsed)
        raw = _upcast(name, parsed, int(getattr(model, "version", 1)))
        if isinstance(raw, str):
            return _error(name, raw)
        problem = _validate(model, raw)
    except Exception as exc:  # noqa: BLE001 - the decoder is total: anything becomes a reason
        problem = f"cannot be decoded ({type(exc).__name__})"
    return _error(name, problem) if isinstance(problem, str) else problem


def _error(name: str, reason: str) -> SchemaDecodeError:
    return SchemaDecodeError(name, clip_utf8(" ".join(reason.split()), MAX_REASON_BYTES))


def decode_batch(
    values: Sequence[Raw],
    model: type[M],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> list[M | SchemaDecodeError]:
    """Decode many messages; each result is the model or the ``SchemaDecodeError`` for it.

    Same outcome as ``decode_one`` per value, about twice as fast: each value is parsed on its
    own (one message never bleeds into another), then all current-version objects are
    validated in one pydantic-core call; if that call fails, they are validated one by one.
    """
    values = list(values)  # any iterable of messages, read once
    current = int(getattr(model, "version", 1))
    out: list[M | SchemaDecodeError | None] = [None] * len(values)
    fast: list[int] = []
    objects: list[dict[str, Any]] = []
    for i, value in enumerate(values):
        try:
            parsed = _parse(value, max_bytes, limits)
        except Exception:  # noqa: BLE001 - decode_one below gives the reason
            parsed = None
        if isinstance(parsed, dict) and _version(parsed.get("schemaVersion")) == current:
            fast.append(i)
            objects.append(parsed)
        else:
            out[i] = decode_one(value, model, max_bytes=max_bytes, limits=limits)
    if objects and not _validate_all(model, fast, objects, out):
        for i in fast:
            out[i] = decode_one(values[i], model, max_bytes=max_bytes, limits=limits)
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


def _parse(data: Raw, max_bytes: int, limits: DecodeLimits) -> dict[str, Any] | str:
    """The JSON object in ``data``, or the reason it is not one (limits checked first)."""
    if data is None:
        return "message has no value (tombstone)"
    if isinstance(data, str):
        text = data.encode("utf-8", "surrogatepass")
    elif isinstance(data, bytes | bytearray | memoryview):
        text = bytes(data)
    else:
        return f"expected bytes, got {type(data).__name__}"
    if len(text) > max_bytes:
        return f"message is {len(text)} bytes, over the {max_bytes}-byte limit"
    why = over_limits(text, limits)
    if why is not None:
        return why
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "surrogate" not in exc.msg:
            return f"not valid JSON ({exc.msg} at byte {exc.pos})"
        try:  # a string cut inside a character by an encoder that writes UTF-16 escapes
            raw = orjson.loads(repair_lone_surrogates(text))
        except orjson.JSONDecodeError as again:
            return f"not valid JSON ({again.msg} at byte {again.pos})"
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
    """``flags.*`` for a map key from the payload; field names and list indexes as they are.

    A location longer than 64 characters keeps its head and tail around the depth elided.
    """
    known = _field_names()
    parts = [str(p) if isinstance(p, int) or p in known else "*" for p in loc]
    text = ".".join(parts) or "<root>"
    if len(text) <= _MAX_LOCATION_CHARS:
        return text
    return f"{'.'.join(parts[:3])[:40]}.…({len(parts)} levels)….{parts[-1][:16]}"


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
    version = MISSING_VERSION.get(name, current) if found is None else _version(found)
    if version is None:
        return "schemaVersion must be an integer"
    if version > current:
        return f"schemaVersion {version} is newer than this reader (knows {current}); upgrade"
    while version < current:
        step = UPCASTERS.get((name, version))
        if step is None:
            return f"schemaVersion {version} is no longer supported"
        stepped = step(raw)
        if isinstance(stepped, str):
            return stepped
        raw, version = stepped, version + 1
    return raw


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
