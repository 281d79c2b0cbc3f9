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


#: Roughly how often a character turns up in tool output, per mille: English letter
#: frequencies for letters, rough counts from pod listings, JSON and logs for the rest
#: (anything unlisted counts 10). Only the order matters much: ``words_scanner`` anchors its
#: words on rare characters.
_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
_LETTER_WEIGHTS = (127, 91, 82, 75, 70, 67, 63, 61, 60, 43, 40, 28, 28)
_LETTER_WEIGHTS_2 = (24, 24, 22, 20, 20, 19, 15, 10, 8, 2, 2, 1, 1)
_CHAR_WEIGHT: dict[str, int] = {
    **dict(zip(_LETTERS, _LETTER_WEIGHTS + _LETTER_WEIGHTS_2, strict=True)),
    **dict.fromkeys("0123456789", 30),
    " ": 150,
    "-": 30,
    "_": 15,
    '"': 25,
    ":": 20,
    "=": 15,
    "/": 20,
    ".": 25,
    ",": 15,
    "\n": 20,
    "(": 5,
    ")": 5,
    "[": 4,
    "]": 4,
    "%": 2,
    "@": 2,
    "\x1b": 1,
}


def _weight(char: str) -> int:
    return _CHAR_WEIGHT.get(char, 10)


def word_anchors(words: tuple[str, ...]) -> dict[str, int]:
    """For each word, the index of the character a scan for it starts at: one of a small set
    of rare characters that every word holds one of (a greedy weighted cover)."""
    left, chosen = set(words), set()
    while left:
        # the character that hits the most words still uncovered per unit of weight
        best = min(
            {c for w in left for c in w},
            key=lambda c: (_weight(c) / sum(c in w for w in left), c),
        )
        chosen.add(best)
        left = {w for w in left if best not in w}
    return {
        w: min((i for i, c in enumerate(w) if c in chosen), key=lambda i: (_weight(w[i]), i))
        for w in words
    }


def words_scanner(words: tuple[str, ...]) -> re.Pattern[str]:
    """A scanner finding whether any of ``words`` occurs (``search(...) is None`` or not; the
    match's span is the word's part from its anchor on, not the whole word).

    Each word is matched from its anchor (``word_anchors``), a rare character, and the part
    before the anchor is checked by a look-behind: ``k(?:ey|en(?<=token))``. The regex
    engine skips, in C, every character that is no anchor and tries a match only at the
    few that are; a trie of the words (``to(?:ken|…)``) would be tried at every character
    that starts a word, which in lower-case text is most of them.
    """
    if not words or not all(words):
        raise ValueError("words_scanner needs non-empty words")
    groups: dict[str, list[str]] = {}
    for word, i in word_anchors(words).items():
        rest = re.escape(word[i + 1 :]) + (f"(?<={re.escape(word)})" if i else "")
        groups.setdefault(word[i], []).append(rest)
    branches = [
        re.escape(anchor) + (rests[0] if len(rests) == 1 else "(?:" + "|".join(rests) + ")")
        for anchor, rests in sorted(groups.items())
    ]
    return scanner("(?:" + "|".join(branches) + ")")


def anchored(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile and register a pattern only matched at given positions (see module doc)."""
    compiled = re.compile(pattern, flags)
    REGISTRY.setdefault(compiled, "anchored")
    return compiled
