"""Every regex of the redaction engine is compiled here, so a test can hold each to linear time.

A pattern is registered for how it is used:

* ``scanner``: searched over a whole text (``sub``, ``finditer``, ``search``, ``findall``).
  An attempt at a position where it cannot match must fail after a bounded number of steps
  (it starts with a literal, or its leading run is bounded or guarded by a look-behind), so
  a scan costs time linear in the text.
* ``anchored``: matched only at positions the caller found (``match``, ``fullmatch``). One
  attempt must be linear in what it reads; callers never try it twice over the same run.

Rules for both: no nested or adjacent unbounded quantifiers over overlapping characters
(possessive quantifiers ``*+``/``{m,n}+`` and atomic groups ``(?>…)`` where a run is followed
by something the run could also match), and runs bounded where an unbounded one is not needed.
``tests/unit/test_redact_linear.py`` times every registered pattern on generated hostile input
at two sizes, and checks that every pattern of the package is registered.
"""

from __future__ import annotations

import re

#: How each registered pattern is used: ``"scan"`` or ``"anchored"``.
REGISTRY: dict[re.Pattern[str], str] = {}


def scanner(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile and register a pattern that is searched over whole texts (see module doc)."""
    compiled = re.compile(pattern, flags)
    REGISTRY[compiled] = "scan"
    return compiled


def anchored(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile and register a pattern only matched at given positions (see module doc)."""
    compiled = re.compile(pattern, flags)
    REGISTRY.setdefault(compiled, "anchored")
    return compiled
