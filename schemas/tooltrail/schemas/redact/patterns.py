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
from typing import Any

#: How each registered pattern is used: ``"scan"`` or ``"anchored"``.
REGISTRY: dict[re.Pattern[str], str] = {}


def scanner(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile and register a pattern that is searched over whole texts (see module doc)."""
    compiled = re.compile(pattern, flags)
    REGISTRY[compiled] = "scan"
    return compiled


def words_scanner(words: tuple[str, ...]) -> re.Pattern[str]:
    """A scanner finding any of ``words``, written as a trie (``pa(?:ss|t)``): one pass over
    the text, each position tried against the words sharing its first characters only."""
    trie: dict[str, dict[str, Any]] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return scanner(_trie_pattern(trie))


def _trie_pattern(node: dict[str, dict[str, Any]]) -> str:
    branches = [re.escape(c) + _trie_pattern(sub) for c, sub in sorted(node.items()) if c]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def anchored(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile and register a pattern only matched at given positions (see module doc)."""
    compiled = re.compile(pattern, flags)
    REGISTRY.setdefault(compiled, "anchored")
    return compiled
