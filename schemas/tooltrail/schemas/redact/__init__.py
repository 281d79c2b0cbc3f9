"""Redaction: secrets never leave the producer. One engine, rule families beneath it.

``engine`` walks values and text and is the only module that calls the rule families;
the families (``vendors``, ``pairs`` and ``blocks``, ``argv``, ``scan``) build on ``keys``, the
shared vocabulary of sensitive names and secret-looking values; ``modes`` says how the
structured walk treats a value under a mapping key; ``logfilter`` applies the engine to log
records. Calls go one way: engine → families → keys.
"""

from tooltrail.schemas.redact.engine import (
    DEFAULT_LIMITS,
    REDACTED,
    RedactionLimits,
    is_sensitive_key,
    redact,
    redact_text,
)

__all__ = [
    "DEFAULT_LIMITS",
    "REDACTED",
    "RedactionLimits",
    "is_sensitive_key",
    "redact",
    "redact_text",
]
