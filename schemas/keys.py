"""The enrichment cache key: the same in the tool server (raw args) and in the enrich group
(the event's redacted args), because values are reduced the same way on both sides.

Key = ``<tool id>:<16 hex>`` over the tool id and its scope: by default every scalar
argument (sorted by name); with a per-tool list (``TOOLTRAIL_CACHE_KEY_ARGS``, e.g.
``oc_read_get_pods=namespace,selector;oc_read_logs=namespace,pod``) only those. Arguments
under sensitive names are left out; a string that holds a secret counts as ``<redacted>``
(exactly what redaction makes of it on the wire), so the key never depends on a secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from schemas.redact import REDACTED, is_sensitive_key, redact_text

MAX_VALUE_CHARS = 200


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
    if isinstance(value, str):
        clipped = value[:MAX_VALUE_CHARS]
        if REDACTED in clipped or redact_text(clipped) != clipped:  # raw side and wire side agree
            return REDACTED
        return clipped
    return None


def cache_key(tool_id: str, args: Any, scope: Mapping[str, tuple[str, ...]] | None = None) -> str:
    """The cache key of one call (see module docstring). Never raises."""
    items = args.items() if isinstance(args, Mapping) else ()
    wanted = (scope or {}).get(tool_id)
    parts = []
    for name, value in sorted((str(k), v) for k, v in items):
        if (wanted is not None and name not in wanted) or is_sensitive_key(name):
            continue
        text = _scalar(value)
        if text is not None:
            parts.append(f"{name}={text}")
    digest = hashlib.blake2b("\x1f".join([tool_id, *parts]).encode(), digest_size=8).hexdigest()
    return f"{tool_id[:150]}:{digest}"
