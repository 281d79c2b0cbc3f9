"""Redaction: secrets never leave the producer. One engine for every field of an event.

``redact(value)`` returns a bounded, JSON-safe copy of ``value`` in which

* values under sensitive keys are replaced by ``<redacted>`` (``keys``: ``STRONG`` always,
  ``WEAK`` when the value looks random; ``true``/``false``/``null``, references and public
  keys are kept, still scanned and cut); a container under a STRONG key keeps only what
  merely describes (``secretName``, ``key``);
* ``{name: AWS_SECRET_ACCESS_KEY, value: …}`` pairs (env lists, header lists, SSM
  parameters) lose the value; a Kubernetes Secret loses every ``data``/``stringData`` value;
  documents that mark their secrets (Terraform, Pulumi, Vault, Key Vault, JWKs) lose them;
  the output of a command that prints a secret loses its bare values; a resource's ``blob``
  goes unless it decodes to something clean;
* argv lists lose flag values (``argv``), lists of PEM lines their key material;
* every string goes through ``redact_text``: JSON text is parsed and walked with the same
  rules, other text goes through the passes of ``scan``.

Strings are scanned before they are cut; what lies beyond the scan window is dropped with
the token the window split, so no prefix of a secret survives a cut. Depth, width, string
length and total size are bounded, every regex is linear, and nothing here raises. The
characters scanned and the CPU time spent are bounded per event (``budget``): past the
budget the rest is masked, never scanned slowly.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import JsonValue

from tooltrail.schemas.redact.argv import program_of, redact_argv
from tooltrail.schemas.redact.budget import RedactionBudget
from tooltrail.schemas.redact.encoded import blob_is_secret
from tooltrail.schemas.redact.keys import NEUTRAL, REDACTED, STRONG, WEAK, is_sensitive_key
from tooltrail.schemas.redact.limits import DEFAULT_LIMITS, TEXT_LIMITS, RedactionLimits
from tooltrail.schemas.redact.material import redact_key_list
from tooltrail.schemas.redact.modes import (
    ALL,
    ARGV_FIELDS,
    B64,
    BLOB,
    OUTPUT,
    child_mode,
    command_of,
    is_argv,
    kind_of,
    pair_class,
    special_children,
)
from tooltrail.schemas.redact.outputs import redact_output
from tooltrail.schemas.redact.scan import cut_window, lowercase, needs_scan, scan_text
from tooltrail.schemas.redact.values import keep_value, looks_b64_secret, looks_secret
from tooltrail.schemas.redact.vendors import redact_vendor_tokens

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
_NO_NAMES: frozenset[str] = frozenset()


class _Ctx:
    """Per-call state: the limits, the node budget, the scan budget, and whether a bound
    dropped anything. ``prepaid``: inside JSON text whose characters were already counted."""

    __slots__ = ("limits", "lossy", "nodes", "prepaid", "scan")

    def __init__(self, limits: RedactionLimits, scan: RedactionBudget, prepaid: bool) -> None:
        self.limits = limits
        self.nodes = limits.max_nodes
        self.lossy = False
        self.scan = scan
        self.prepaid = prepaid


def _budget_of(limits: RedactionLimits) -> RedactionBudget:
    return limits.budget if limits.budget is not None else limits.new_budget()


def redact_text(text: str, limits: RedactionLimits = DEFAULT_LIMITS) -> str:
    """Replace every secret found inside ``text``; the rest is kept. Never raises.

    Only the first ``limits.scan_window`` characters are kept (minus a token the cut split);
    a cut is marked ``…(+N chars)``. Past the budget the rest is masked (``budget``).
    """
    try:
        ctx = _Ctx(limits, _budget_of(limits), prepaid=False)
        out, dropped, over = _scanned(text, ctx)
    except Exception:  # noqa: BLE001 - text that cannot be redacted is dropped, never sent
        return "<unredactable>"
    return _with_cut_mark(out, dropped, over)


def _with_cut_mark(out: str, dropped: int, over: bool) -> str:
    if not dropped:
        return out
    return f"{out}…(+{dropped} chars, over budget)" if over else f"{out}…(+{dropped} chars)"


def _scanned(value: str, ctx: _Ctx) -> tuple[str, int, bool]:
    """``value`` cut to its window (and to what the budget grants) and redacted: the text,
    how many characters were dropped, and whether the budget cut it."""
    budget = ctx.scan
    window = min(len(value), ctx.limits.scan_window)
    if window == 0:
        return value, 0, False
    granted = window if ctx.prepaid and not budget.expired() else budget.take(window)
    if granted <= 0:
        return budget.mask(), 0, False
    cut, dropped = cut_window(value, granted)
    if granted < window:
        budget.mask()  # counted: the rest of this string is masked by the cut
    return _utf8(_redact_window(cut, ctx)), dropped, granted < window


def _utf8(text: str) -> str:
    """``text`` without lone surrogates (which no UTF-8 encoder, orjson included, accepts)."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()
    return text


def _redact_window(text: str, ctx: _Ctx) -> str:
    lower = _gate_open(text)
    if lower is None:
        return text
    if text.lstrip()[:1] in ("{", "[") and (parsed := _json_text(text, ctx)) is not None:
        return parsed
    return scan_text(text, lower, ctx.scan)


def window_unchanged(text: str) -> bool:
    """True if the passes leave ``text`` (one window: already cut, within the budget) as it
    is without running: too short to hold anything, remembered clean, or the gate finds
    nothing in it. The producer's shortcut for the common call asks this first."""
    return _gate_open(text) is None


def _gate_open(text: str) -> str | None:
    """None if the passes leave ``text`` unchanged (see ``window_unchanged``; a short text the
    gate finds clean is remembered), else its lower-case form, which the passes read."""
    short = len(text) <= _CLEAN_MAX_CHARS
    if len(text) < 4 or (short and text in _CLEAN):
        return None
    lower = lowercase(text)
    if needs_scan(text, lower):
        return lower
    if short:
        _remember_clean(text)
    return None


def _remember_clean(text: str) -> None:
    """Remember a short string that holds nothing to redact (argument names and values
    repeat on every call); bounded, oldest out first. Secrets are never remembered."""
    _CLEAN[text] = None
    if len(_CLEAN) > _CLEAN_MAX_ENTRIES:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # a racing eviction
            del _CLEAN[next(iter(_CLEAN))]


def _json_text(text: str, outer: _Ctx) -> str | None:
    """Whole JSON text: walked with the key rules. None when it is not JSON (or too big)."""
    body = text.strip()
    if body[-1:] not in ("}", "]"):
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    ctx = _Ctx(TEXT_LIMITS, outer.scan, prepaid=True)
    out = _walk(parsed, ctx, 0, NEUTRAL)
    if ctx.lossy and not ctx.scan.exhausted:
        return None
    if out == parsed:
        return text
    return orjson.dumps(out, option=orjson.OPT_INDENT_2 if "\n" in body else 0).decode()


def redact(value: Any, limits: RedactionLimits = DEFAULT_LIMITS) -> JsonValue:
    """Return a bounded, JSON-safe, secret-free copy of ``value``. Never raises."""
    try:
        return _walk(value, _Ctx(limits, _budget_of(limits), prepaid=False), 0, NEUTRAL)
    except RecursionError:
        return "<unredactable: too deep>"
    except Exception:  # noqa: BLE001 - a value that cannot even be walked is dropped, not sent
        return "<unredactable>"


def _walk(
    value: Any,
    ctx: _Ctx,
    depth: int,
    mode: int,
    hint: str | None = None,
    names: frozenset[str] = _NO_NAMES,
) -> JsonValue:
    ctx.nodes -= 1
    if ctx.nodes < 0:
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
        return _container(value, ctx, depth, mode, hint, names)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return _number(value, mode)
    if isinstance(value, str):
        return _string(str(value), ctx, mode)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return _container(value, ctx, depth, mode, hint, names)
    dumped = _model_dump(value)  # a pydantic model (fastmcp's ToolResult, MCP content): its fields
    if dumped is not None:
        return _container(dumped, ctx, depth, mode, hint, names)
    return REDACTED if mode in (STRONG, ALL) else _string(_repr(value), ctx, mode)


def _container(
    value: Any, ctx: _Ctx, depth: int, mode: int, hint: str | None, names: frozenset[str]
) -> JsonValue:
    if depth >= ctx.limits.max_depth:
        ctx.lossy = True
        return REDACTED if mode in (STRONG, ALL) else "<nested too deep>"
    if isinstance(value, Mapping):
        return _walk_mapping(value, ctx, depth, mode, names)
    return _walk_list(list(value), ctx, depth, mode, hint, names)


def _model_dump(value: Any) -> dict[str, Any] | None:
    """The fields of a pydantic model under their wire names, or None (not one, or broken)."""
    dump = getattr(type(value), "model_dump", None)
    if dump is None:
        return None
    try:
        dumped = dump(value, mode="json", by_alias=True)
    except Exception:  # noqa: BLE001 - a model that cannot dump itself is shown as its repr
        return None
    return dumped if isinstance(dumped, dict) else None


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
    if ctx.scan.exhausted:
        return ctx.scan.mask()
    if mode in (STRONG, ALL):
        return _reference(value, ctx) if keep_value(value) else REDACTED
    if mode == WEAK and looks_secret(value) and not keep_value(value):
        return REDACTED
    if mode == B64 and looks_b64_secret(value):
        return REDACTED
    if mode == OUTPUT:
        return _text(redact_output(value[: ctx.limits.scan_window]), ctx)
    if mode == BLOB and blob_is_secret(value[: ctx.limits.scan_window], _Rescan(ctx)):
        return REDACTED
    return _text(value, ctx)


def _reference(value: str, ctx: _Ctx) -> str:
    """A value kept under a sensitive key (a reference, a public key, ``null``…): kept as is
    unless a token hides in it, cut to ``max_string`` (it is not read as prose: an ARN's
    ``:secret:prod/db`` is no secret)."""
    if redact_vendor_tokens(value) != value:
        return REDACTED
    limit = ctx.limits.max_string
    if len(value) <= limit:
        return value
    ctx.lossy = True
    return _with_cut_mark(value[:limit], len(value) - limit, over=False)


class _Rescan:
    """``redact_text`` of decoded content, drawing on the same budget (a blob's content)."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx

    def __call__(self, decoded: str) -> str:
        return _scanned(decoded, _Ctx(self.ctx.limits, self.ctx.scan, prepaid=False))[0]


def _text(value: str, ctx: _Ctx) -> str:
    """``redact_text`` of ``value``, then cut to ``max_string`` (marked ``…(+N chars)``)."""
    limit = ctx.limits.max_string
    out, dropped, over = _scanned(value, ctx)
    if len(out) <= limit and not dropped:
        return out
    ctx.lossy = True
    return _with_cut_mark(out[:limit], len(out) - min(len(out), limit) + dropped, over)


def _walk_mapping(
    value: Mapping[Any, Any], ctx: _Ctx, depth: int, mode: int, names: frozenset[str]
) -> JsonValue:
    limits = ctx.limits
    neutral = mode == NEUTRAL
    pair = pair_class(value) if neutral else None
    kind = kind_of(value) if neutral else None
    hint = program_of(command_of(value)) if neutral else None
    special = special_children(value) if neutral else None
    out: dict[str, JsonValue] = {}
    for index, (key, item) in enumerate(value.items()):
        if index >= limits.max_items or ctx.scan.exhausted:
            out["…"] = _rest(len(value) - index, "keys", ctx)
            break
        name = key if isinstance(key, str) else _repr(key)
        child, below = child_mode(name, mode, pair, kind), names
        marked = special.get(name) if special else None
        if isinstance(marked, int):
            child = marked
        elif marked:
            below = below | marked
        if name in names:
            child = STRONG
        argv_hint = hint if name in ARGV_FIELDS else None
        key_text = _text(name, ctx)[: limits.max_key]
        out[key_text] = _walk(item, ctx, depth + 1, child, argv_hint, below)
    return out


def _rest(count: int, what: str, ctx: _Ctx) -> str:
    """The marker of the rest of a container: past ``max_items``, or past the budget."""
    ctx.lossy = True
    if ctx.scan.exhausted:
        return f"{ctx.scan.mask()} (+{count} more {what})"
    return f"+{count} more {what}"


def _walk_list(
    items: list[Any], ctx: _Ctx, depth: int, mode: int, hint: str | None, names: frozenset[str]
) -> JsonValue:
    limits = ctx.limits
    head = items[: limits.max_items]
    if mode == NEUTRAL:
        if is_argv(head, hint):
            head = redact_argv(head, hint)
        keyed = redact_key_list(head)
        head = keyed if keyed is not None else head
    out: list[JsonValue] = []
    for index, item in enumerate(head):
        if ctx.scan.exhausted:
            out.append(_rest(len(items) - index, "items", ctx))
            return out
        out.append(_walk(item, ctx, depth + 1, mode, None, names))
    if len(items) > limits.max_items:
        out.append(f"…(+{len(items) - limits.max_items} more items)")
        ctx.lossy = True
    return out
