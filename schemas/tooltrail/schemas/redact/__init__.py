"""Redaction: secrets never leave the producer. One engine, rule families beneath it.

``engine`` walks values (``redact``) and cuts strings to their window; ``scan`` runs the text
passes (``redact_text``), each a rule family in a room of its own: ``vendors`` (token
formats), ``material`` (key material in any framing), ``urls``, ``pairs`` and ``blocks``
(``key = value``, YAML), ``tables``, ``lines`` (credential files, config lines), ``argv``
(command lines), ``outputs`` (what secret-printing commands print), ``iac`` and ``documents``
(Terraform, Pulumi, secret managers), ``encoded`` (ANSI, percent, base64), ``prose``. They
build on ``values`` (what a value looks like) and ``keys`` (what a name means); every regex
is compiled in ``patterns`` and held to linear time; ``limits`` holds the bounds and
``budget`` what one event may cost. ``modes`` says how the structured walk treats a value
under a mapping key; ``logfilter`` applies the engine to log records. Calls go one way:
engine → scan → families → values → keys → patterns.
"""

from tooltrail.schemas.redact.budget import OVER_BUDGET, budget_stats
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
    "OVER_BUDGET",
    "REDACTED",
    "RedactionLimits",
    "budget_stats",
    "is_sensitive_key",
    "redact",
    "redact_text",
]
