"""The enrichment cache key: the same in the tool server (raw args) and in the enrich group
(the event's redacted args), because both sides key what the wire carries.

Key = ``<tool id>:<16 hex>`` over the tool id, the caller's scope (``Scope``: environment,
domain, tenant; the producer's settings on the tool server, the event's tags in the enrich
group, so both sides agree) and the arguments: by default every scalar
argument (sorted by name); with a per-tool list (``TOOLTRAIL_CACHE_KEY_ARGS``, e.g.
``oc_read_get_pods=namespace,selector;oc_read_logs=namespace,pod``) only those. The
arguments are first put through the redaction engine (``redact``, top level only), as the
producer does before sending them; redacting is idempotent, so the consumer, which sees the
already-redacted arguments, gets the same values. Arguments under sensitive names are left
out, and a value that lost a secret counts as ``<redacted>``: no key depends on a secret.

The key runs on the tool call's path, so a string is scanned over its first 256 characters
only (the key uses 200). Both sides cut the same way; they disagree only when the wire
redacted something in those characters that a 256-character window cannot see (a secret
crossing character 256, say): a cache miss, never a secret in a key.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from tooltrail.schemas.redact import REDACTED, RedactionLimits, is_sensitive_key, redact

MAX_VALUE_CHARS = 200
#: Top level only (containers are not part of the key); strings scanned over 256 characters.
#: No CPU clock: the tool server and the enrich group compute a key apart, so it must not
#: depend on when (a garbage collection during one call would spend a 10 ms budget and
#: change the key); the sizes bound the work (at most ``max_items`` strings of 256).
_KEY_LIMITS = RedactionLimits(max_depth=1, max_string=256, scan_margin=0, max_cpu_ms=math.inf)
_CONTAINER = "<nested too deep>"
_CUT_MARK = re.compile(r"…\(\+\d+ chars\)\Z")


class Scope(NamedTuple):
    """Whose memories a key may be served: two scopes never share a key or an entry."""

    environment: str = "default"
    domain: str = "general"
    tenant: str = ""


DEFAULT_SCOPE = Scope()


def event_scope(tags: Any) -> Scope:
    """The scope of an event from its ``tags`` (tenant when the tags carry one)."""
    return Scope(str(tags.environment), str(tags.domain), str(getattr(tags, "tenant", "") or ""))


def parse_key_args(spec: str) -> dict[str, tuple[str, ...]]:
    """``tool=a,b;tool2=c`` → ``{"tool": ("a", "b"), "tool2": ("c",)}``.

    Raises:
        ValueError: naming the malformed part.
    """
    out: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        tool, sep, names = part.partition("=")
        if not sep or not tool.strip() or not names.strip():
            raise ValueError(f"expected tool=arg[,arg…], got {part!r}")
        out[tool.strip()] = tuple(n.strip() for n in names.split(",") if n.strip())
    return out


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str) and value != _CONTAINER:
        value = _CUT_MARK.sub("", value)  # its count depends on the length seen on each side
        return REDACTED if REDACTED in value else value[:MAX_VALUE_CHARS]
    return None


def cache_key(
    tool_id: str,
    args: Any,
    key_args: Mapping[str, tuple[str, ...]] | None = None,
    *,
    scope: Scope = DEFAULT_SCOPE,
) -> str:
    """The cache key of one call in ``scope`` (see module docstring). Never raises."""
    wire = redact(args, _KEY_LIMITS) if isinstance(args, Mapping) else {}
    wanted = (key_args or {}).get(tool_id)
    parts = []
    for name, value in sorted((wire if isinstance(wire, dict) else {}).items()):
        if (wanted is not None and name not in wanted) or is_sensitive_key(name):
            continue
        text = _scalar(value)
        if text is not None:
            parts.append(f"{name}={text}")
    digest = hashlib.blake2b(
        "\x1f".join([tool_id, *scope, *parts]).encode(), digest_size=8
    ).hexdigest()
    return f"{tool_id[:150]}:{digest}"
