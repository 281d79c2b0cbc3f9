"""Secrets in prose and SQL: "password hunter2", "the password is X", "API key: X", "Unseal
Key 1: X", ``IDENTIFIED BY 'x'``, DB2's ``USER u USING x``, BIND's ``secret "x";``.

A keyword, up to three fillers ("is", "for bob", "#2"), an optional ``:``/``=``, then one word
or one quoted string. Whether the word is a secret depends on the keyword, the separator and
the word (``_prose_secret``): after "password" almost anything is; after "key" only a
credential-looking word, or any word after a qualifier and a separator ("API key: X").
Every run in the pattern is bounded, so one attempt reads a bounded stretch of text.
"""

from __future__ import annotations

import re

from tooltrail.schemas.redact.keys import REDACTED
from tooltrail.schemas.redact.pairs import apply_spans, term_positions
from tooltrail.schemas.redact.patterns import anchored, scanner
from tooltrail.schemas.redact.values import (
    STOP_WORDS,
    credential_like,
    keep_value,
    looks_secret,
    starts_with_reference,
)

PROSE_TERMS = (
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "key",
    "credential",
    "bearer",
    "basic",
    "identified",
    "using",
)
_PROSE = anchored(
    r"(?P<kw>passwords?|passwd|passphrase|passcode|secrets?|tokens?|keys?|credentials?|bearer"
    r"|basic|identified[ \t]{1,8}+by|using)"
    r"(?P<filler>(?:[ \t]{1,8}+(?:is|was|are|were|now|set to|changed to|reset to"
    r"|for [\w@.\-]{1,64}+|of [\w@.\-]{1,64}+|#?\d{1,3}+)\b){0,3})"
    r"(?:[ \t]{0,8}+(?P<sep>[:=])[ \t]{1,8}+|[ \t]{1,8}+)"
    r"(?:(?P<q>[\"'])(?P<qval>[^\"'\n]{1,512}+)(?P=q)|(?P<val>[^\s\"'<>`]{1,512}+))"
)
#: Punctuation after a bare word that is not part of it: a sentence's, or a bracket that
#: opens or closes right after it ("password 0000000000(" is the word 0000000000)
_TRAILING = ".,;:!?)]}([{"
_SQL_USER = scanner(r"\b(?:user|role|login|connect)\b")
_QUALIFIER = scanner(
    r"(?:api|access|secret|private|client|auth|license|master|account|refresh|bot|session|app"
    r"|signing|encryption|personal access|id|sas|storage|deploy|webhook|unseal|recovery|root"
    r"|shared|join|bootstrap|admin)[ _-]?\Z"
)


def redact_prose(text: str, lower: str) -> str:
    """Redact the secret after every prose keyword of ``text`` (see module docstring)."""
    spans: list[tuple[int, int, str]] = []
    done = 0
    for i in term_positions(lower, PROSE_TERMS):
        if i < done or (i > 0 and (lower[i - 1].isalnum() or lower[i - 1] == "_")):
            continue
        m = _PROSE.match(lower, i)
        if m is None or not _prose_secret(m, lower, i) or _kept(text, m, i):
            continue
        if m.group("q") is not None:
            spans.append((m.start("qval"), m.end("qval"), REDACTED))
        else:
            value = m.group("val").rstrip(_TRAILING)
            spans.append((m.start("val"), m.start("val") + len(value), REDACTED))
        done = m.end()
    return apply_spans(text, spans)


def _kept(text: str, m: re.Match[str], i: int) -> bool:
    """The value is kept (a reference, ``null``…), or the keyword sits inside a reference
    (``…:secret:prod/db`` of an ARN), or what follows it on its line is one
    (``password: {{ .Values.pw }}``) or a size (``16 bytes``)."""
    raw = (
        text[m.start("qval") : m.end("qval")]
        if m.group("q")
        else text[m.start("val") : m.end("val")]
    )
    if keep_value(raw) or keep_value(raw.rstrip(_TRAILING)) or starts_with_reference(raw):
        return True
    start = max(text.rfind(c, max(0, i - 256), i) for c in " \t\n\"'=") + 1
    end = m.start("val") if m.group("val") is not None else m.start("q")
    if start < i and keep_value(text[start:end].rstrip(" \t:=")):
        return True
    eol = text.find("\n", end, end + 256)
    rest = text[end : eol if eol != -1 else end + 256].strip()
    return rest != text[end : m.end()].strip() and keep_value(rest)


def _prose_secret(m: re.Match[str], lower: str, i: int) -> bool:
    """Decide whether the word after a prose keyword is a secret (see module docstring)."""
    quoted = m.group("q") is not None
    kw = m.group("kw").rstrip("s")
    raw = m.group("qval") if quoted else m.group("val")
    value = raw if quoted else raw.rstrip(_TRAILING)
    if not value or value in STOP_WORDS:
        return False
    sep, filler = m.group("sep") is not None, bool(m.group("filler"))
    if kw.startswith("identified") or kw == "using":  # SQL: IDENTIFIED BY 'x', USER u USING x
        line = lower[max(lower.rfind("\n", max(0, i - 256), i) + 1, i - 256) : i]
        user_before = _SQL_USER.search(line) is not None
        if kw == "using":
            return user_before and not sep and (quoted or credential_like(value))
        return quoted or (user_before and credential_like(value))
    if kw in ("bearer", "basic"):
        return not sep and credential_like(value)
    if kw in ("password", "passwd", "passphrase", "passcode"):
        return quoted or sep or filler or credential_like(value)
    qualified = _QUALIFIER.search(lower, max(0, i - 24), i) is not None
    strong = qualified or kw in ("secret", "token", "credential")
    if sep:
        return strong
    if quoted and kw in ("secret", "token", "credential"):  # BIND: secret "…";
        return credential_like(value) or looks_secret(value)
    return credential_like(value) and (strong if filler else qualified or kw == "token")
