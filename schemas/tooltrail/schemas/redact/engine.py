"""Redaction: secrets never leave the producer. One engine for every field of an event.

``redact(value)`` returns a bounded, JSON-safe copy of ``value`` in which

* values under sensitive keys are replaced by ``<redacted>`` (``redact_keys``: ``STRONG``
  always, ``WEAK`` when the value looks random; ``true``/``false``/``null`` are kept); a
  container under a STRONG key keeps only what merely describes (``secretName``, ``key``);
* ``{name: AWS_SECRET_ACCESS_KEY, value: …}`` pairs (env lists, header lists, SSM
  parameters) lose the value; a Kubernetes Secret loses every ``data``/``stringData`` value;
* argv lists lose flag values (``redact_argv``);
* every string goes through ``redact_text``: JSON text is parsed and walked with the same
  rules, other text goes through the passes of ``redact_scan``.

Strings are scanned before they are cut; what lies beyond the scan window is dropped with
the token the window split, so no prefix of a secret survives a cut. Depth, width, string
length and total size are bounded, every regex is linear, and nothing here raises.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import JsonValue

from tooltrail.schemas.redact.argv import program_of, redact_argv
from tooltrail.schemas.redact.keys import (
    NEUTRAL,
    REDACTED,
    STRONG,
    WEAK,
    is_sensitive_key,
    looks_b64_secret,
    looks_secret,
)
from tooltrail.schemas.redact.modes import (
    ALL,
    ARGV_FIELDS,
    B64,
    child_mode,
    command_of,
    is_argv,
    kind_of,
    pair_class,
)
from tooltrail.schemas.redact.pairs import keep_value
from tooltrail.schemas.redact.scan import cut_window, lowercase, needs_scan, scan_text

__all__ = [
    "DEFAULT_LIMITS",
    "REDACTED",
    "RedactionLimits",
    "is_sensitive_key",
    "redact",
    "redact_text",
]
_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1
#: Short strings found clean (argument names and values repeat on every call).
_CLEAN: dict[str, None] = {}
_CLEAN_MAX_CHARS, _CLEAN_MAX_ENTRIES = 64, 4096


@dataclass(frozen=True, slots=True)
class RedactionLimits:
    """Bounds applied while redacting; every limit is a documented setting of the producer."""

    max_depth: int = 6
    max_items: int = 50
    max_string: int = 1024
    max_nodes: int = 500
    max_key: int = 128
    scan_margin: int = 8192

    @property
    def scan_window(self) -> int:
        """How much of a string is scanned for secrets before it is cut to ``max_string``."""
        return self.max_string + self.scan_margin


DEFAULT_LIMITS = RedactionLimits()
#: Inside JSON text: the text is already bounded by its window, so nothing more is cut.
_TEXT_LIMITS = RedactionLimits(
    max_depth=48, max_items=1 << 30, max_string=1 << 30, max_nodes=1 << 30, max_key=1 << 30
)


class _Ctx:
    """Per-call state: the limits, the node budget, and whether a bound dropped anything."""

    __slots__ = ("budget", "limits", "lossy")

    def __init__(self, limits: RedactionLimits) -> None:
        self.limits = limits
        self.budget = limits.max_nodes
        self.lossy = False


def redact_text(text: str, limits: RedactionLimits = DEFAULT_LIMITS) -> str:
    """Replace every secret found inside ``text``; the rest is kept. Never raises.

    Only the first ``limits.scan_window`` characters are kept (minus a token the cut split);
    a cut is marked ``…(+N chars)``.
    """
    try:
        cut, dropped = cut_window(text, limits.scan_window)
        out = _utf8(_redact_window(cut))
    except Exception:  # noqa: BLE001 - text that cannot be redacted is dropped, never sent
        return "<unredactable>"
    return f"{out}…(+{dropped} chars)" if dropped else out


def _utf8(text: str) -> str:
    """``text`` without lone surrogates (which no UTF-8 encoder, orjson included, accepts)."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()
    return text


def _redact_window(text: str) -> str:
    short = len(text) <= _CLEAN_MAX_CHARS
    if len(text) < 4 or (short and text in _CLEAN):
        return text
    lower = lowercase(text)
    if not needs_scan(text, lower):
        if short:
            _remember_clean(text)
        return text
    if text.lstrip()[:1] in ("{", "[") and (parsed := _json_text(text)) is not None:
        return parsed
    return scan_text(text, lower)


def _remember_clean(text: str) -> None:
    """Remember a short string that holds nothing to redact (argument names and values
    repeat on every call); bounded, oldest out first. Secrets are never remembered."""
    _CLEAN[text] = None
    if len(_CLEAN) > _CLEAN_MAX_ENTRIES:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # a racing eviction
            del _CLEAN[next(iter(_CLEAN))]


def _json_text(text: str) -> str | None:
    """Whole JSON text: walked with the key rules. None when it is not JSON (or too big)."""
    body = text.strip()
    if body[-1:] not in ("}", "]"):
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    ctx = _Ctx(_TEXT_LIMITS)
    out = _walk(parsed, ctx, 0, NEUTRAL)
    if ctx.lossy:
        return None
    if out == parsed:
        return text
    return orjson.dumps(out, option=orjson.OPT_INDENT_2 if "\n" in body else 0).decode()


def redact(value: Any, limits: RedactionLimits = DEFAULT_LIMITS) -> JsonValue:
    """Return a bounded, JSON-safe, secret-free copy of ``value``. Never raises."""
    try:
        return _walk(value, _Ctx(limits), 0, NEUTRAL)
    except RecursionError:
        return "<unredactable: too deep>"
    except Exception:  # noqa: BLE001 - a value that cannot even be walked is dropped, not sent
        return "<unredactable>"


def _walk(value: Any, ctx: _Ctx, depth: int, mode: int, hint: str | None = None) -> JsonValue:
    ctx.budget -= 1
    if ctx.budget < 0:
        ctx.lossy = True
        return REDACTED if mode in (STRONG, ALL) else "<truncated>"
    kind = type(value)  # exact types first: isinstance against unions and ABCs is slow
    if kind is str:
        return _string(value, ctx, mode)
    if value is None or kind is bool:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is float:
        return _number(value, mode)
    if kind is dict or kind is list:
        return _container(value, ctx, depth, mode, hint)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return _number(value, mode)
    if isinstance(value, str):
        return _string(str(value), ctx, mode)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return _container(value, ctx, depth, mode, hint)
    return REDACTED if mode in (STRONG, ALL) else _string(_repr(value), ctx, mode)


def _container(value: Any, ctx: _Ctx, depth: int, mode: int, hint: str | None) -> JsonValue:
    if depth >= ctx.limits.max_depth:
        ctx.lossy = True
        return REDACTED if mode in (STRONG, ALL) else "<nested too deep>"
    if isinstance(value, Mapping):
        return _walk_mapping(value, ctx, depth, mode)
    return _walk_list(list(value), ctx, depth, mode, hint)


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not lose the rest of the value
        return f"<{type(value).__name__}>"


def _number(value: float, mode: int) -> JsonValue:
    if mode in (STRONG, ALL):
        return REDACTED
    if isinstance(value, int):  # orjson (the wire codec) only encodes 64-bit integers
        return value if _INT_MIN <= value <= _UINT_MAX else str(value)
    return value if math.isfinite(value) else str(value)


def _string(value: str, ctx: _Ctx, mode: int) -> str:
    if mode in (STRONG, ALL):
        return value if keep_value(value) else REDACTED
    if mode == WEAK and looks_secret(value) and not keep_value(value):
        return REDACTED
    if mode == B64 and looks_b64_secret(value):
        return REDACTED
    return _text(value, ctx)


def _text(value: str, ctx: _Ctx) -> str:
    """``redact_text`` of ``value``, then cut to ``max_string`` (marked ``…(+N chars)``)."""
    limit = ctx.limits.max_string
    cut, dropped = cut_window(value, ctx.limits.scan_window)
    out = _utf8(_redact_window(cut))
    if len(out) <= limit and not dropped:
        return out
    ctx.lossy = True
    return f"{out[:limit]}…(+{len(out) - min(len(out), limit) + dropped} chars)"


def _walk_mapping(value: Mapping[Any, Any], ctx: _Ctx, depth: int, mode: int) -> JsonValue:
    limits = ctx.limits
    pair = pair_class(value) if mode == NEUTRAL else None
    kind = kind_of(value) if mode == NEUTRAL else None
    hint = program_of(command_of(value)) if mode == NEUTRAL else None
    out: dict[str, JsonValue] = {}
    for index, (key, item) in enumerate(value.items()):
        if index >= limits.max_items:
            out["…"] = f"+{len(value) - limits.max_items} more keys"
            ctx.lossy = True
            break
        name = key if isinstance(key, str) else _repr(key)
        child = child_mode(name, mode, pair, kind)
        argv_hint = hint if name in ARGV_FIELDS else None
        out[_text(name, ctx)[: limits.max_key]] = _walk(item, ctx, depth + 1, child, argv_hint)
    return out


def _walk_list(items: list[Any], ctx: _Ctx, depth: int, mode: int, hint: str | None) -> JsonValue:
    limits = ctx.limits
    head = items[: limits.max_items]
    if mode == NEUTRAL and is_argv(head, hint):
        head = redact_argv(head, hint)
    out = [_walk(item, ctx, depth + 1, mode) for item in head]
    if len(items) > limits.max_items:
        out.append(f"…(+{len(items) - limits.max_items} more items)")
        ctx.lossy = True
    return out
