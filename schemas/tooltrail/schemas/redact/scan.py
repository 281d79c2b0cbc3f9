"""Secrets inside free text: the passes ``redact_text`` runs, each behind a cheap gate.

Order: private key blocks (PEM, PGP, PuTTY) → vendor tokens → URL userinfo → Go DSNs →
name/value pairs → ``key = value`` pairs and YAML blocks → command lines → prose
("password hunter2", "the password is X", "API key: X"). Most strings hold none of the
gate literals and come back untouched after a few ``str.find`` calls.
"""

from __future__ import annotations

import re
import string

from tooltrail.schemas.redact.argv import TOOL_TERMS, redact_command_lines
from tooltrail.schemas.redact.keys import (
    REDACTED,
    WEAK,
    credential_like,
    is_placeholder,
    key_class,
    looks_secret,
)
from tooltrail.schemas.redact.pairs import (
    KEY_TERMS,
    apply_spans,
    keep_value,
    redact_pairs,
    redact_xml_elements,
    term_positions,
    value_span,
)
from tooltrail.schemas.redact.vendors import ANYWHERE_FORMATS, redact_vendor_tokens
from tooltrail.schemas.redact.vendors import has_run_prefix as has_vendor_run

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_TAIL = re.compile(r"[^\s\"'`,;{}\[\]<>]*")
_PRIVATE = re.compile(
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?"
    r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)"
    r"|PuTTY-User-Key-File-\d: .*?(?:Private-MAC: [0-9a-fA-F]{0,128}|\Z)",
    re.DOTALL,
)
_AUTHORITY = re.compile(r"[^\s\"'<>`]{0,1024}")
_PORT_PATH = re.compile(r"\d{1,5}[/?#]")
_HOST = re.compile(r"[A-Za-z0-9.\-]*[A-Za-z][A-Za-z0-9.\-]*(?::\d{1,5})?(?:[/?#]|$)")
_DSN_AT = re.compile(r"@(?:tcp[46]?|udp|unix)\(")
#: What follows ``value`` in a name/value pair, and (reversed) what precedes it.
_VALUE_SEP = re.compile(r"[\"']?[ \t]*[:=][ \t]*")
_REV_NAME = re.compile(
    r"[ \t]*(?:\n\r?[ \t]*)?,?[ \t]*[\"']?(?P<name>[\w.\-/]{1,128})[\"']?[ \t]*[:=][ \t]*"
    r"[\"']?(?:eman|yek|redaeh)(?![\w])"
)
_PROSE_TERMS = (
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
)
#: A keyword, fillers ("is", "for bob"), an optional ``:``/``=``, then one word or one quoted
#: string (``PASSWORD 'x y'`` in SQL, ``password "x"`` in prose).
_PROSE = re.compile(
    r"(?P<kw>passwords?|passwd|passphrase|passcode|secrets?|tokens?|keys?|credentials?|bearer"
    r"|basic|identified[ \t]+by)(?P<filler>(?:[ \t]+(?:is|was|are|were|now|set to|changed to"
    r"|reset to|for [\w@.\-]{1,64}|of [\w@.\-]{1,64})){0,3})[ \t]*(?P<sep>[:=])?[ \t]+"
    r"(?:(?P<q>[\"'])(?P<qval>[^\"'\n]{1,512})(?P=q)|(?P<val>[^\s\"'<>`]{1,512}))"
)
_SQL_USER = re.compile(r"\b(?:user|role|login)\b")
_QUALIFIER = re.compile(
    r"(?:api|access|secret|private|client|auth|license|master|account|refresh|bot|session|app"
    r"|signing|encryption|personal access|id|sas|storage|deploy|webhook)[ _-]?\Z"
)
#: Gate literals: looked for in the lower-cased text, then (case kept) in the text itself.
_GATE_TERMS = (
    *KEY_TERMS,
    *TOOL_TERMS,
    "putty-user",
    "apiversion",
    "@tcp",
    "@unix(",
    "@udp(",
    "input_value=",
    "identified",
)
#: pydantic's validation errors echo the raw input, cut in the middle when long
#: (``'ghp_Q7xQ...xQ7x'``): no token pattern matches a fragment, so the whole echo goes.
_INPUT_ECHO = re.compile(r"input_value=(?:[^\n]{0,4096}?(?=, input_type=)|[^\n]{0,4096})")
_GATE = re.compile("|".join(map(re.escape, _GATE_TERMS)))
_GATE_LITERALS = ("://", ":\\/\\/", *(fmt.prefixes[0] for fmt in ANYWHERE_FORMATS))
_STOP = {
    "is",
    "was",
    "are",
    "were",
    "be",
    "been",
    "the",
    "a",
    "an",
    "and",
    "or",
    "for",
    "of",
    "to",
    "in",
    "on",
    "with",
    "not",
    "no",
    "has",
    "have",
    "had",
    "must",
    "should",
    "will",
    "can",
    "cannot",
    "may",
    "expired",
    "expires",
    "reset",
    "incorrect",
    "invalid",
    "wrong",
    "required",
    "changed",
    "change",
    "policy",
    "field",
    "prompt",
    "manager",
    "empty",
    "authentication",
    "rotation",
    "length",
    "missing",
    "set",
    "updated",
    "stored",
    "hash",
    "hashed",
    "file",
    "correct",
    "valid",
    "too",
    "that",
    "this",
    "it",
    "used",
    "needed",
    "rotated",
    "revoked",
    "provided",
    "given",
    "found",
    "see",
    "none",
    "here",
}


def lowercase(text: str) -> str:
    """``text`` in lower case with every offset unchanged (``İ`` would grow under ``lower``)."""
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


def cut_window(text: str, window: int) -> tuple[str, int]:
    """``text`` cut to ``window`` characters, minus a trailing token the cut may have split.

    Returns the kept text and how many characters were dropped: no prefix of a secret that
    crosses the window boundary survives, whatever its format.
    """
    if len(text) <= window:
        return text, 0
    cut = text[:window]
    keep = window - len(_TAIL.match(cut[::-1]).group())  # type: ignore[union-attr]
    return cut[:keep], len(text) - keep


def needs_scan(text: str, lower: str) -> bool:
    """Cheap test: could ``text`` hold anything a pass redacts?"""
    if len(lower) <= 256:  # one regex beats thirty substring tests on short strings
        if _GATE.search(lower) is not None:
            return True
    else:
        for term in _GATE_TERMS:
            if term in lower:
                return True
    for literal in _GATE_LITERALS:
        if literal in text:
            return True
    return len(text) >= 15 and has_vendor_run(text)


def scan_text(text: str, lower: str) -> str:
    """Run every pass whose gate ``lower`` opens; return the redacted text."""
    if "input_value=" in lower:
        text, lower = _relower(text, _INPUT_ECHO.sub("input_value=" + REDACTED, text), lower)
    if "private key" in lower or "putty-user" in lower:
        text, lower = _relower(text, _PRIVATE.sub(REDACTED, text), lower)
    text, lower = _relower(text, redact_vendor_tokens(text), lower)
    if "://" in text or ":\\/\\/" in text:
        text, lower = _relower(text, redact_userinfo(text), lower)
    if "@tcp" in lower or "@unix(" in lower or "@udp(" in lower:
        text, lower = _relower(text, _redact_dsn(text), lower)
    # computed once: the passes below only put ``<redacted>`` (no key term) in place of values,
    # so a term they remove costs at most a later pass that finds nothing
    keyish = any(term in lower for term in KEY_TERMS)
    if "value" in lower and keyish:
        text, lower = _relower(text, _redact_name_values(text, lower), lower)
    k8s = "apiversion" in lower
    if k8s or keyish:
        text, lower = _relower(text, redact_pairs(text, lower, k8s), lower)
    if "</" in text and keyish:
        text, lower = _relower(text, redact_xml_elements(text), lower)
    text, lower = _relower(text, redact_command_lines(text, lower), lower)
    if any(term in lower for term in _PROSE_TERMS):
        text = _redact_prose(text, lower)
    return text


def _relower(old: str, new: str, lower: str) -> tuple[str, str]:
    return (old, lower) if new == old else (new, lowercase(new))


def redact_userinfo(text: str) -> str:
    """``scheme://user:password@host``: the password (which may hold ``/`` or ``@``) goes; a
    user part that is itself a random token (``https://<token>@host``) goes too."""
    spans: list[tuple[int, int, str]] = []
    for marker in ("://", ":\\/\\/"):
        pos = 0
        while (i := text.find(marker, pos)) != -1:
            start = i + len(marker)
            cand = _AUTHORITY.match(text, start).group()  # type: ignore[union-attr]
            nested = cand.find(marker)
            cand = cand[:nested] if nested != -1 else cand
            pos = start + max(len(cand), 1)
            span = _userinfo_span(cand)
            if span is not None:
                spans.append((start + span[0], start + span[1], REDACTED))
    return apply_spans(text, sorted(set(spans)))


def _userinfo_span(authority: str) -> tuple[int, int] | None:
    at = authority.rfind("@")
    if at <= 0:
        return None
    info = authority[:at]
    colon = info.find(":")
    if colon == -1:
        return (0, at) if len(info) >= 16 and "/" not in info and looks_secret(info) else None
    user, password = info[:colon], info[colon + 1 :]
    if not password or any(c in user for c in "/?#") or password.endswith("/"):
        return None  # "host/@scope": an npm scope, not a password
    if _PORT_PATH.match(password) and not _HOST.match(authority, at + 1):
        return None  # "host:8080/pkg@1.2.3": a port, then a path holding "@"
    if password.startswith(REDACTED) or is_placeholder(password):
        return None
    return colon + 1, at


def _redact_dsn(text: str) -> str:
    """Go MySQL DSNs: ``user:password@tcp(host:3306)/db`` (the password may hold ``@``)."""
    spans: list[tuple[int, int, str]] = []
    done = 0
    for m in _DSN_AT.finditer(text):
        at, low = m.start(), max(done, m.start() - 512)
        start = max(low, *(text.rfind(c, low, at) + 1 for c in " \t\n\"'=`,;"))
        colon = text.find(":", start, at)
        if colon != -1 and colon + 1 < at and not text.startswith(REDACTED, colon + 1):
            spans.append((colon + 1, at, REDACTED))
        done = m.end()
    return apply_spans(text, spans)


def _redact_name_values(text: str, lower: str) -> str:
    """``{name: AWS_SECRET_ACCESS_KEY, value: …}`` and header lists, in YAML or JSON text.

    Found from each ``value`` key backwards (a reversed, anchored regex: linear).
    """
    spans: list[tuple[int, int, str]] = []
    rev, n, done = lower[::-1], len(lower), 0
    for v in term_positions(lower, ("value",)):
        sep = _VALUE_SEP.match(lower, v + 5)
        if v < done or sep is None:
            continue
        vkey = v - 1 if v and lower[v - 1] in "\"'" else v
        m = _REV_NAME.match(rev, n - vkey)
        if m is None:
            continue
        name = text[n - m.end("name") : n - m.start("name")]
        line_start = text.rfind("\n", 0, vkey) + 1
        own_line = not text[line_start:vkey].strip(" \t-")
        cls = key_class(name)
        found = value_span(text, sep.end(), cls, rest_of_line=own_line) if cls >= WEAK else None
        if found is not None:
            spans.append(found)
            done = found[1]
    return apply_spans(text, spans)


def _redact_prose(text: str, lower: str) -> str:
    spans: list[tuple[int, int, str]] = []
    done = 0
    for i in term_positions(lower, _PROSE_TERMS):
        if i < done or (i > 0 and (lower[i - 1].isalnum() or lower[i - 1] == "_")):
            continue
        m = _PROSE.match(lower, i)
        if m is None or not _prose_secret(m, lower, i):
            continue
        if m.group("q") is not None:
            spans.append((m.start("qval"), m.end("qval"), REDACTED))
        else:
            value = m.group("val").rstrip(".,;:!?)]}")
            spans.append((m.start("val"), m.start("val") + len(value), REDACTED))
        done = m.end()
    return apply_spans(text, spans)


def _prose_secret(m: re.Match[str], lower: str, i: int) -> bool:
    """Decide whether the word after a prose keyword is a secret (see module docstring)."""
    quoted = m.group("q") is not None
    kw = m.group("kw").rstrip("s")
    value = m.group("qval") if quoted else m.group("val").rstrip(".,;:!?)]}")
    if not value or value in _STOP or keep_value(value):
        return False
    sep, filler = m.group("sep") is not None, bool(m.group("filler"))
    if kw.startswith("identified"):  # SQL: CREATE USER … IDENTIFIED BY 'x' (Oracle: unquoted)
        line = lower[max(lower.rfind("\n", max(0, i - 256), i) + 1, i - 256) : i]
        return quoted or (_SQL_USER.search(line) is not None and credential_like(value))
    if kw in ("bearer", "basic"):
        return not sep and credential_like(value)
    if kw in ("password", "passwd", "passphrase", "passcode"):
        return quoted or sep or filler or credential_like(value)
    qualified = _QUALIFIER.search(lower, max(0, i - 24), i) is not None
    strong = qualified or kw in ("secret", "token", "credential")
    if sep:
        return strong
    return credential_like(value) and (strong if filler else qualified or kw == "token")
