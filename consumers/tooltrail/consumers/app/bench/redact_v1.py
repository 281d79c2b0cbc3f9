"""The previous redaction engine (``schemas/redact.py`` before the rewrite), frozen for
``tooltrail bench emit`` only: the redaction cost of an event is measured against it in the
same run. Nothing outside the benchmark imports this module; it is not maintained.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pydantic import JsonValue

from tooltrail.producer.calls import (
    _SEVERITY,
    PROCESS_SESSION_ID,
    ToolCall,
    classify_op,
    flags_snapshot,
)
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.base import MAX_ERROR_SUMMARY_CHARS, MAX_SUMMARY_BYTES, clip_utf8, first_line
from tooltrail.schemas.events import Tags, ToolExecutionEvent
from tooltrail.schemas.ids import new_event_id
from tooltrail.schemas.redact import RedactionLimits

REDACTED = "<redacted>"
_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1

_SENSITIVE_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "cookie",
    "apikey",
    "privatekey",
    "credential",
    "accesskey",
    "sessionkey",
    "signingkey",
    "clientkey",
    "encryptionkey",
    "bearer",
    "jwt",
)
_SENSITIVE_EXACT = {"auth", "pwd", "pass", "pw", "otp", "pin", "sig", "key_secret", "dsn"}
_SENSITIVE_SUFFIXES = ("auth", "pwd", "pass")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    (re.compile(r"\b(?i:(bearer|basic|token))(\s+)[A-Za-z0-9\-._~+/]{6,}=*"), r"\1\2" + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    (
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}\b"),
        REDACTED,
    ),
    (re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
    (
        re.compile(
            r"([\w.-]*(?i:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key"
            r"|private[_-]?key|credential)s?[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"'}]+)"
        ),
        r"\1" + REDACTED,
    ),
    (
        re.compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
            r"|sha256~[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35})"
        ),
        REDACTED,
    ),
)


@lru_cache(maxsize=4096)
def is_sensitive_key(key: str) -> bool:
    """True if a mapping key names a secret (``API-Key``, ``db.password``, ``xAuthToken`` …)."""
    norm = re.sub(r"[^a-z0-9]", "", key.lower())
    if norm in _SENSITIVE_EXACT or key.lower() in _SENSITIVE_EXACT:
        return True
    return any(part in norm for part in _SENSITIVE_PARTS) or norm.endswith(_SENSITIVE_SUFFIXES)


#: One pass that finds whether any pattern matches; most strings hold no secret.
_ANY = re.compile("|".join(f"(?:{p.pattern})" for p, _ in _PATTERNS), re.DOTALL)


def redact_text(text: str) -> str:
    """Replace every secret found inside ``text``; the rest of the text is kept."""
    if _ANY.search(text) is None:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, limits: RedactionLimits) -> JsonValue:
    """Return a bounded, JSON-safe, secret-free copy of ``value``. Never raises."""
    budget = [limits.max_nodes]
    try:
        return _walk(value, limits, 0, budget)
    except RecursionError:
        return "<unredactable: too deep>"


def _text(text: str, limits: RedactionLimits) -> str:
    text = redact_text(text[: limits.scan_window])
    if len(text) > limits.max_string:
        return text[: limits.max_string] + f"…(+{len(text) - limits.max_string} chars)"
    return text


def _walk(value: Any, limits: RedactionLimits, depth: int, budget: list[int]) -> JsonValue:
    budget[0] -= 1
    if budget[0] < 0:
        return "<truncated>"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # orjson (the wire codec) only encodes 64-bit integers
        return value if _INT_MIN <= value <= _UINT_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _text(value, limits)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        if depth >= limits.max_depth:
            return "<nested too deep>"
        return _walk_mapping(value, limits, depth, budget)
    if isinstance(value, list | tuple | set | frozenset):
        if depth >= limits.max_depth:
            return "<nested too deep>"
        items = list(value)
        out = [_walk(item, limits, depth + 1, budget) for item in items[: limits.max_items]]
        if len(items) > limits.max_items:
            out.append(f"…(+{len(items) - limits.max_items} more items)")
        return out
    return _text(repr(value), limits)


def _walk_mapping(
    value: dict[Any, Any], limits: RedactionLimits, depth: int, budget: list[int]
) -> JsonValue:
    out: dict[str, JsonValue] = {}
    for index, (key, item) in enumerate(value.items()):
        if index >= limits.max_items:
            out["…"] = f"+{len(value) - limits.max_items} more keys"
            break
        name = _text(key if isinstance(key, str) else str(key), limits)[: limits.max_key]
        if isinstance(key, str) and is_sensitive_key(key):
            out[name] = REDACTED
        else:
            out[name] = _walk(item, limits, depth + 1, budget)
    return out


def summarize_result(result: Any, limits: RedactionLimits) -> str | None:
    """The previous summary: joined text items (or ``repr``), redacted, cut to 1.5 KB."""
    if result is None:
        return None
    texts: list[str] = []
    content = (
        result.get("content") if isinstance(result, Mapping) else getattr(result, "content", None)
    )
    if isinstance(content, list):
        for item in content:
            text = item.get("text") if isinstance(item, Mapping) else getattr(item, "text", None)
            if isinstance(text, str):
                texts.append(text)
    raw = "\n".join(texts) if texts else (result if isinstance(result, str) else repr(result))
    return clip_utf8(redact_text(raw[: limits.scan_window]), MAX_SUMMARY_BYTES)


def build_event(call: ToolCall, settings: ProducerSettings, seq: int = 0) -> ToolExecutionEvent:
    """The previous ``build_event`` (anchors and names were not redacted)."""
    limits = settings.redaction_limits
    started = datetime.fromtimestamp(call.started_wall, tz=UTC)
    ended = datetime.fromtimestamp(call.started_wall + call.elapsed_ms / 1000, tz=UTC)
    args = redact(call.args, limits) if call.args is not None else {}
    error = first_line(redact_text(call.error), MAX_ERROR_SUMMARY_CHARS) if call.error else None
    return ToolExecutionEvent(
        event_id=new_event_id(int(call.started_wall * 1000)),
        tool_id=call.tool_id[:200] or "unknown",
        op_type=call.op_type or classify_op(call.tool_id),
        session_id=call.session_id[:200] or PROCESS_SESSION_ID,
        incident_id=call.incident_id[:200] if call.incident_id else None,
        outcome=call.outcome,
        started_at=started,
        ended_at=ended,
        elapsed_ms=max(call.elapsed_ms, 0.0),
        error_summary=error,
        anchors=tuple(a[:200] for a in call.anchors[:32]),
        args=args if isinstance(args, dict) else {"value": args},
        result_summary=summarize_result(call.result, limits),
        tags=Tags(
            domain=settings.domain,
            environment=settings.environment,
            severity=_SEVERITY[call.outcome],
        ),
        flags=flags_snapshot(settings),
        server_name=settings.server_name[:200],
        server_host=settings.server_host[:200],
        producer_seq=seq,
    )
