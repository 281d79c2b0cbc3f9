"""Infrastructure-aware normalization: what two calls about one situation have in common.

Two calls about the same problem differ in everything a cluster generates per object or per
moment: pod and ReplicaSet hashes, IPs and ports, UUIDs and request ids, hex digests,
timestamps, durations, counters. ``normalize`` replaces those with placeholders (``<ts>``,
``<ip>``, ``<id>``, ``<n>``…) and keeps the words that say what happened, so the signature of a
situation is the same for every occurrence of it.

It runs in linear time on hostile input: the text is split into words by one single-character
class (no backtracking possible), each word is classified by plain string tests and patterns
with a single bounded or unanchored-free quantifier, and only the first ``limit`` characters
are looked at.
"""

from __future__ import annotations

import itertools
import re

__all__ = ["normalize", "strip_placeholders"]

#: Word separators: whitespace and punctuation that never belongs to an identifier.
_SPLIT = re.compile(r"([\s,;()\[\]{}\"'<>|`]+)")
#: Inside a word: the separators of names, paths, hosts and key=value pairs.
_PIECES = re.compile(r"([-_./:=@#+])")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TS_CHARS = frozenset("0123456789-:.TZ+")
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
#: Kubernetes' alphabet for generated names (no vowels, no 0/1/3): ReplicaSet and pod hashes.
_KUBE = frozenset("bcdfghjklmnpqrstvwxz2456789")
#: A number right after one of these words is a code that tells situations apart.
_CODE_WORDS = frozenset({"http", "status", "code", "exit", "exitcode", "errno", "signal", "rc"})
#: Units that may follow a number (``250ms``, ``512Mi``, ``3x``).
_UNIT_MAX = 3
_PLACEHOLDER = re.compile(r"[-_./:=@#+]?<(?:ts|ip|uuid|hex|id|n)>")
_BLANKS = re.compile(r"\s+")


def _number_with_unit(piece: str) -> str | None:
    """``250ms`` → ``<n>ms``, ``42`` → ``<n>``, ``1.5`` handled by the caller; else None."""
    i = 0
    while i < len(piece) and piece[i] in _DIGITS:
        i += 1
    if i == 0:
        return None
    unit = piece[i:]
    if unit == "" or (len(unit) <= _UNIT_MAX and unit.isalpha()):
        return "<n>" + unit
    return None


def _is_generated(piece: str, first: bool, last: bool) -> bool:
    """A generated id: hex digest, Kubernetes hash, or a long letters-and-digits token."""
    n = len(piece)
    digits = sum(c in _DIGITS for c in piece)
    if n >= 12 and digits == n:
        return True  # a snowflake id, an epoch in ms: counters are shorter
    if n >= 8 and 0 < digits < n and all(c in _HEX for c in piece):
        return True
    if not first and 5 <= n <= 10 and all(c in _KUBE for c in piece):
        return (n == 5 and last) or digits > 0  # a pod suffix, or a ReplicaSet hash
    return n >= 6 and digits >= 2 and piece.isalnum() and digits < n


def _word(word: str, previous: str) -> str:
    if "=" in word:  # key=value pairs: each value on its own, after its key
        parts = word.split("=")
        return "=".join([parts[0]] + [_value(v, k) for k, v in itertools.pairwise(parts)])
    return _value(word, previous)


def _value(word: str, previous: str) -> str:
    if _IPV4.fullmatch(word):
        return "<ip>"
    if _UUID.fullmatch(word):
        return "<id>"
    timelike = ":" in word or word.count("-") >= 2
    if timelike and sum(c in _DIGITS for c in word) >= 2 and all(c in _TS_CHARS for c in word):
        return "<ts>"
    if word.isdigit() and previous.rstrip(":=").lower() in _CODE_WORDS and len(word) <= 4:
        return word  # HTTP 503, exit code 137: the code is the situation
    parts = _PIECES.split(word)
    out = []
    for i, piece in enumerate(parts):
        if i % 2 or not piece:
            out.append(piece)
        elif _is_generated(piece, first=i == 0, last=i == len(parts) - 1):
            out.append("<id>")
        elif (number := _number_with_unit(piece)) is not None:
            out.append(number)
        else:
            out.append(piece)
    return "".join(out).replace("<n>.<n>", "<n>")


def normalize(text: str, limit: int = 4096) -> str:
    """``text`` with infrastructure noise replaced by placeholders, blanks collapsed.

    Pure and linear in ``min(len(text), limit)``: at most ``limit`` characters are read.
    """
    parts = _SPLIT.split(text[:limit])
    out = []
    previous = ""
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part)
            continue
        if part:
            out.append(_word(part, previous))
            previous = part
    return _BLANKS.sub(" ", "".join(out)).strip()


def strip_placeholders(text: str) -> str:
    """``text`` without placeholders (they cost embedding tokens and carry no meaning)."""
    return _BLANKS.sub(" ", _PLACEHOLDER.sub(" ", text)).strip()
