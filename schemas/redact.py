"""Redaction: secrets never leave the producer.

``redact(value)`` returns a JSON-safe copy of ``value`` in which

* every value under a sensitive key (password, token, secret, authorization, cookie, api key,
  private key, credential, …; case and separator insensitive) is replaced by ``<redacted>``;
* secrets inside strings are replaced wherever they appear: bearer/basic credentials, JWTs,
  AWS access keys, PEM private-key blocks, passwords in connection strings,
  ``password=…``-style pairs, GitHub/Slack/OpenShift/OpenAI/Google tokens;
* long strings are cut, containers are bounded in depth, width and total size.

Strings are scanned before they are cut, so a cut can never expose half a secret.
A planted secret is detected when it is delimited like real text (start, end, whitespace,
quotes or punctuation around it); one glued to letters on both sides may not be.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import JsonValue

REDACTED = "<redacted>"
_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1

_SENSITIVE_PARTS = (
    "password", "passwd", "passphrase", "secret", "token", "authorization", "cookie",
    "apikey", "privatekey", "credential", "accesskey", "sessionkey", "signingkey",
    "clientkey", "encryptionkey", "bearer", "jwt",
)  # fmt: skip
_SENSITIVE_EXACT = {"auth", "pwd", "pass", "pw", "otp", "pin", "sig", "key_secret", "dsn"}
_SENSITIVE_SUFFIXES = ("auth", "pwd", "pass")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\Z)",
        re.DOTALL,
    ), REDACTED),
    (re.compile(r"\b(?i:(bearer|basic|token))(\s+)[A-Za-z0-9\-._~+/]{6,}=*"), r"\1\2" + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|ABIA|ACCA)[A-Z0-9]{16}\b"),
     REDACTED),
    (re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
    (re.compile(
        r"([\w.-]*(?i:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key"
        r"|private[_-]?key|credential)s?[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"'}]+)"
    ), r"\1" + REDACTED),
    (re.compile(
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
        r"|sha256~[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35})"
    ), REDACTED),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RedactionLimits:
    """Bounds applied while redacting; every limit is a documented setting of the producer."""

    max_depth: int = 6
    max_items: int = 50
    max_string: int = 1024
    max_nodes: int = 500
    max_key: int = 128

    @property
    def scan_window(self) -> int:
        """How much of a string is scanned for secrets before it is cut to ``max_string``."""
        return self.max_string + 8192


DEFAULT_LIMITS = RedactionLimits()


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


def redact(value: Any, limits: RedactionLimits = DEFAULT_LIMITS) -> JsonValue:
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
