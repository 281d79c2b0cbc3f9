"""Hostile inputs generated from a regex's own structure, and from the engine's vocabulary.

``pattern_inputs(pattern, n)`` reads a compiled pattern's parse tree: its literal words (a
match must start somewhere) and the characters its classes and runs accept (what a run can
be pumped with). Inputs of ``n`` characters are then a literal followed by a long run of one
accepted character, the two alternating, or the literal every 32 characters of a run: the
shapes that make backtracking or re-scanning show up as super-linear time.

``hostile_values(n)`` gives the shapes the maintainers' hook feeds ``redact_text`` (key-like
words followed by long runs of whitespace, separators or openers) and many more: every gate
word of the engine, with more runs and framings.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from re import _constants as sre
from re import _parser
from typing import Any

from tooltrail.consumers.app.bench.emit_redaction import HOOK_RUNS, HOOK_WORDS

#: Characters tried as pumps: whitespace, separators, openers, quotes, escapes, letters.
CANDIDATES = " \t\n\r:=,;{}[]()<>#-@\"'\\/.aA0_$~|&*%!?+^"
MORE_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pw",
    "pwd=",
    "secret",
    "cred",
    "auth",
    "cookie",
    "key",
    "sig",
    "bearer ",
    "basic ",
    "jwt",
    "token",
    "otp",
    "psk",
    "encrypt",
    "identified by ",
    "using ",
    "- name: TOKEN\n  value:",
    "apiVersion: v1\ndata:",
    "kind: Secret",
    "https://",
    "a:b@",
    "@tcp(",
    "input_value=",
    "<password>",
    "</password>",
    "$6$",
    "{SSHA}",
    "echo $TOKEN",
    "| docker login --password-stdin",
    "--password-stdin <<< ",
    "mysql -p",
    "sqlplus a/",
    "jdbc:oracle:thin:",
    'variable "pw" {',
    '"sensitive_attributes": [',
    '"kty": ',
    "machine h login u password ",
    "[smtp.x]:587 ",
    'bind_s("',
    "| password | ",
    "│ PASSWORD │ ",
    "NAME  PASSWORD\n",
    "\x1b[32m",
    "%3D",
    "%253D",
    "-----END PRIVATE KEY-----",
    "PuTTY-User-Key-File-2: ",
    "$ kubectl get secret x -o jsonpath={.data.pw}\n",
    "openssl rand -hex 32\n",
    "https://x/hooks/",
    "?code=",
    "define('DB_PASSWORD', ",
    "ghp_",
    "sk-",
    "eyJ",
    "LS0tLS1CRUdJTi",
    "AKIA",
)
MORE_RUNS = (
    *HOOK_RUNS,
    "\n",
    "\n ",
    " \n",
    "a",
    "A1",
    '"',
    "'",
    "\\",
    '\\"',
    "/",
    ".",
    "_",
    "$",
    "|",
    "(",
    "[",
    "{",
    "}",
    ">",
    ";",
    "&",
    "\r\n",
    "x ",
    "0",
    ": ",
    "= ",
    "- ",
    "\n- ",
    "  - a: b\n",
    '"a":',
    "a=",
    "a:",
    "%",
    "  ",
    "\t\t",
)


def literals_and_classes(pattern: re.Pattern[str]) -> tuple[list[str], set[str]]:
    """The literal words of ``pattern`` (longest first) and the candidate characters its
    classes, literals and wildcards accept."""
    words: set[str] = set()
    chars: set[str] = set()
    _walk(_parser.parse(pattern.pattern, pattern.flags), words, chars)
    accepted = {c for c in CANDIDATES if _accepts(pattern, chars, c)}
    return sorted(words, key=len, reverse=True), accepted | {" ", "a"}


def _walk(node: Any, words: set[str], chars: set[str]) -> None:
    run: list[str] = []
    for op, arg in node:
        if op is sre.LITERAL:
            run.append(chr(arg))
            chars.add(chr(arg))
            continue
        if run:
            words.add("".join(run))
            run = []
        if op is sre.IN:
            chars.update(_class_chars(arg))
        elif op in (sre.ANY, sre.NOT_LITERAL):
            chars.update(CANDIDATES)
        elif op is sre.BRANCH:
            for branch in arg[1]:
                _walk(branch, words, chars)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            _walk(arg[2], words, chars)
        elif op is sre.SUBPATTERN:
            _walk(arg[3], words, chars)
        elif op in (sre.ATOMIC_GROUP,):
            _walk(arg, words, chars)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            _walk(arg[1], words, chars)
    if run:
        words.add("".join(run))


def _class_chars(items: list[tuple[Any, Any]]) -> set[str]:
    found: set[str] = set()
    negate = any(op is sre.NEGATE for op, _ in items)
    for op, arg in items:
        if op is sre.LITERAL:
            found.add(chr(arg))
        elif op is sre.RANGE:
            found.update({chr(arg[0]), chr(arg[1]), chr((arg[0] + arg[1]) // 2)})
        elif op is sre.CATEGORY:
            found.update(CANDIDATES)
    return set(CANDIDATES) - found if negate else found


def _accepts(pattern: re.Pattern[str], chars: set[str], c: str) -> bool:
    return c in chars or c.lower() in chars or c.upper() in chars


def pattern_inputs(pattern: re.Pattern[str], n: int, limit: int = 240) -> Iterator[str]:
    """Hostile inputs of ``n`` characters for ``pattern`` (see module docstring)."""
    words, pumps = literals_and_classes(pattern)
    heads = ["", *words[:6]]
    count = 0
    for head in heads:
        for pump in sorted(pumps):
            for shape in (
                head + pump * n,
                (head + pump) * (n // max(1, len(head) + 1) + 1),
                (head + pump * 32) * (n // (len(head) + 32) + 1),
            ):
                yield shape[:n]
                count += 1
                if count >= limit:
                    return


def hostile_values(n: int, extra: int, seed: int = 27) -> list[tuple[str, str, str]]:
    """``(word, run, value)``: every hook shape, then ``extra`` more drawn with ``seed``."""
    out = [(w, r, (w + r * n)[:n]) for w in HOOK_WORDS for r in HOOK_RUNS]
    rng = random.Random(seed)
    forms = (
        lambda w, r: w + r * n,
        lambda w, r: (w + r) * (n // (len(w) + len(r)) + 1),
        lambda w, r: (w + r * 32) * (n // (len(w) + 32 * len(r)) + 1),
        lambda w, r: r * n + w,
    )
    for _ in range(extra):
        w, r, form = rng.choice(MORE_WORDS), rng.choice(MORE_RUNS), rng.choice(forms)
        value = form(w, r)
        out.append((w, r, value[-n:] if value.endswith(w) else value[:n]))
    return out
