"""Secrets inside free text: the passes ``redact_text`` runs, each behind a cheap gate.

Order: terminal colours out → pydantic input echoes → key material (blocks, then lines) →
vendor tokens → URLs (userinfo, Oracle, webhook paths, query codes) → Go DSNs → name/value
pairs → ``key = value`` pairs and YAML blocks → XML elements → IaC text → tables →
credential files → command lines → outputs of secret-printing commands → encodings
(percent, base64; decoded text goes through these passes again, two levels at most) →
prose. Most strings hold none of the gate literals and come back untouched after a few
``str.find`` calls. Between passes the event's budget is checked: past it, the string is
masked whole (``budget``).
"""

from __future__ import annotations

import string
from collections.abc import Callable

from tooltrail.schemas.redact import encoded, lines, material, urls
from tooltrail.schemas.redact.argv import TOOL_TERMS, redact_command_lines
from tooltrail.schemas.redact.budget import RedactionBudget
from tooltrail.schemas.redact.iac import IAC_GATES, IAC_GATES_2, redact_iac_text
from tooltrail.schemas.redact.keys import REDACTED, WEAK, key_class
from tooltrail.schemas.redact.outputs import (
    may_print_secret,
    prints_secret,
    redact_command_outputs,
)
from tooltrail.schemas.redact.pairs import (
    KEY_TERMS,
    apply_spans,
    line_start,
    redact_pairs,
    redact_xml_elements,
    term_positions,
    value_span,
)
from tooltrail.schemas.redact.patterns import anchored, scanner, words_scanner
from tooltrail.schemas.redact.prose import PROSE_TERMS, redact_prose
from tooltrail.schemas.redact.tables import has_table, redact_tables
from tooltrail.schemas.redact.vendors import ANYWHERE_FORMATS, redact_vendor_tokens
from tooltrail.schemas.redact.vendors import has_run_prefix as has_vendor_run

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
#: Words too common to open the scan on their own (their rules need a second word).
_COMMON = frozenset({"using", "conn"})
_TAIL = anchored(r"[^\s\"'`,;{}\[\]<>]*+")
#: What follows ``value`` in a name/value pair, and (reversed) what precedes it.
_VALUE_SEP = anchored(r"[\"']?[ \t]{0,16}+[:=][ \t]{0,16}+")
_REV_NAME = anchored(
    r"[ \t]{0,64}+(?:\n\r?[ \t]{0,64}+)?,?[ \t]{0,16}+[\"']?(?P<name>[\w.\-/]{1,128}+)[\"']?"
    r"[ \t]{0,16}+[:=][ \t]{0,16}+[\"']?(?:eman|yek|redaeh|lebal)(?![\w])"
)
#: Gate literals: looked for in the lower-cased text, then (case kept) in the text itself.
#: A term that holds another term is left out (``password`` holds ``pass``).
_ALL_GATE_TERMS = (
    *KEY_TERMS,
    *TOOL_TERMS,
    *PROSE_TERMS,
    *material.BLOCK_GATES,
    *urls.ORACLE_GATES,
    *IAC_GATES,
    *IAC_GATES_2,
    *lines.GATES,
    *("apiversion", "@tcp", "@unix(", "@udp(", "input_value=", "kty", "\x1b"),
    *("%3d", "%3a", "%2f", "%40", "%25", "%26"),
)
_GATE_TERMS = tuple(
    dict.fromkeys(
        t
        for t in _ALL_GATE_TERMS
        if t not in _COMMON and not any(o != t and o in t for o in _ALL_GATE_TERMS)
    )
)
#: pydantic's validation errors echo the raw input, cut in the middle when long
#: (``'ghp_Q7xQ...xQ7x'``): no token pattern matches a fragment, so the whole echo goes.
_INPUT_ECHO = scanner(r"input_value=(?:[^\n]{0,4096}?(?=, input_type=)|[^\n]{0,4096}+)")
_GATE = words_scanner(_GATE_TERMS)
_GATE_LITERALS = ("://", ":\\/\\/", *(p for fmt in ANYWHERE_FORMATS for p in fmt.prefixes))
#: Characters most text lacks: a gate literal holding one is looked for only in text that
#: holds that character (one ``in`` per character instead of one per literal).
_RARE_CHARS = "{$~:/@%"


def _literal_groups(literals: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``literals`` grouped under the first rare character each holds; a literal holding none
    is its own group (its key is the literal itself)."""
    groups: dict[str, list[str]] = {}
    for literal in literals:
        key = next((c for c in _RARE_CHARS if c in literal), literal)
        groups.setdefault(key, []).append(literal)
    return tuple((key, tuple(members)) for key, members in groups.items())


_LITERAL_GROUPS = _literal_groups(_GATE_LITERALS)
_MAX_RESCAN_DEPTH = 2
_IAC = (*IAC_GATES, *IAC_GATES_2)


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


#: The last verdict of the gate, for one string object: the producer's shortcut for the common
#: call (``calls.clean_parts``) asks first, and for a text that opens the gate the rules ask
#: again about the same object (one tuple, replaced whole: safe between threads).
_last_gate: tuple[str | None, bool] = (None, False)


def needs_scan(text: str, lower: str) -> bool:
    """Cheap test: could ``text`` hold anything a pass redacts? (``lower``: ``lowercase(text)``;
    asked twice in a row about the same string object, it answers from the last verdict.)"""
    global _last_gate
    last, verdict = _last_gate
    if last is text:
        return verdict
    verdict = gate_opens(text, lower)
    _last_gate = (text, verdict)
    return verdict


def gate_opens(text: str, lower: str) -> bool:
    """The gate's tests themselves (``needs_scan`` without its memo)."""
    if _GATE.search(lower) is not None:  # one pass for sixty words, from rare anchors
        return True
    for key, members in _LITERAL_GROUPS:
        if key in text and any(literal in text for literal in members):
            return True
    if text.count(":") >= 4 or ("@" in text and ":" in text) or ("%" in text and "-u" in lower):
        return True  # .pgpass lines, SASL password maps, Samba's -U user%password
    if ("using" in lower and "user" in lower) or ("conn" in lower and "/" in text):
        return True  # DB2's USER u USING x; Oracle's CONNECT user/password
    return len(text) >= 15 and has_vendor_run(text)


def scan_text(text: str, lower: str, budget: RedactionBudget, depth: int = 0) -> str:
    """Run every pass whose gate opens; the redacted text, or the budget's mask once it runs
    out between two passes."""
    if "\x1b" in text and (plain := encoded.strip_ansi(text)) != text:
        found = scan_text(plain, lowercase(plain), budget, depth)
        return text if found == plain else found  # colours kept unless a secret hid behind
    keyish = any(term in lower for term in KEY_TERMS)
    rescan = _Rescan(budget, depth)
    for gate, run in _PASSES:
        if gate(text, lower, keyish):
            text, lower = _relower(text, run(text, lower, rescan), lower)
            if budget.expired():
                return budget.mask()
    return text


class _Rescan:
    """Scan decoded text (percent, base64) with the same passes, one level deeper."""

    __slots__ = ("budget", "depth")

    def __init__(self, budget: RedactionBudget, depth: int) -> None:
        self.budget, self.depth = budget, depth

    def __call__(self, decoded: str) -> str:
        if self.depth >= _MAX_RESCAN_DEPTH or self.budget.take(len(decoded)) < len(decoded):
            return REDACTED  # too deep or over budget: what was encoded is not kept
        low = lowercase(decoded)
        if not needs_scan(decoded, low):
            return decoded
        return scan_text(decoded, low, self.budget, self.depth + 1)


Gate = Callable[[str, str, bool], bool]
Pass = Callable[[str, str, _Rescan], str]


def _urlish(text: str, lower: str, keyish: bool) -> bool:
    return "://" in text or ":\\/\\/" in text


def _tabular(text: str, lower: str, keyish: bool) -> bool:
    return keyish and has_table(text, term_positions(lower, KEY_TERMS))


def _run_text(fn: Callable[[str], str]) -> Pass:
    return lambda text, lower, rescan: fn(text)


def _run_lower(fn: Callable[[str, str], str]) -> Pass:
    return lambda text, lower, rescan: fn(text, lower)


#: Every pass after the terminal colours, in order, with its gate (module docstring). A pass
#: only ever puts ``<redacted>`` in place of a value, which opens no gate a later pass needs.
_PASSES: tuple[tuple[Gate, Pass], ...] = (
    (lambda t, low, k: "input_value=" in low, _run_lower(lambda t, low: _input_echo(t))),
    (
        lambda t, low, k: any(g in low for g in material.BLOCK_GATES),
        _run_text(material.redact_blocks),
    ),
    (lambda t, low, k: material.has_key_lines(t, low), _run_text(material.redact_key_lines)),
    (lambda t, low, k: True, _run_text(redact_vendor_tokens)),
    (_urlish, _run_text(urls.redact_userinfo)),
    (_urlish, _run_text(urls.redact_hook_paths)),
    (lambda t, low, k: "=" in t and ("?" in t or "&" in t), _run_text(urls.redact_query_secrets)),
    (lambda t, low, k: any(g in low for g in urls.ORACLE_GATES), _run_text(urls.redact_oracle)),
    (
        lambda t, low, k: "@tcp" in low or "@unix(" in low or "@udp(" in low,
        _run_text(urls.redact_dsn),
    ),
    (lambda t, low, k: k and "value" in low, _run_lower(lambda t, low: _name_values(t, low))),
    (
        lambda t, low, k: k or "apiversion" in low,
        _run_lower(lambda t, low: redact_pairs(t, low, "apiversion" in low)),
    ),
    (lambda t, low, k: k and "</" in t, _run_text(redact_xml_elements)),
    (lambda t, low, k: "kty" in low, _run_text(material.redact_jwk_text)),
    (lambda t, low, k: any(g in t for g in _IAC), _run_lower(redact_iac_text)),
    (_tabular, _run_text(redact_tables)),
    (
        lambda t, low, k: k or ":" in t or any(g in low for g in lines.GATES),
        _run_lower(lines.redact_credential_lines),
    ),
    (lambda t, low, k: True, _run_lower(redact_command_lines)),
    (
        lambda t, low, k: may_print_secret(low) and prints_secret(low),
        _run_lower(redact_command_outputs),
    ),
    (
        lambda t, low, k: "%" in t,
        lambda t, low, rescan: encoded.redact_percent_encoded(t, rescan),
    ),
    (lambda t, low, k: len(t) >= 40, lambda t, low, rescan: encoded.redact_base64_runs(t, rescan)),
    (lambda t, low, k: any(term in low for term in PROSE_TERMS), _run_lower(redact_prose)),
)


def _relower(old: str, new: str, lower: str) -> tuple[str, str]:
    return (old, lower) if new == old else (new, lowercase(new))


def _input_echo(text: str) -> str:
    return _INPUT_ECHO.sub("input_value=" + REDACTED, text)


def _name_values(text: str, lower: str) -> str:
    """``{name: AWS_SECRET_ACCESS_KEY, value: …}``, header and label lists, in YAML or JSON.

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
        begin = line_start(text, vkey)
        own_line = vkey - begin <= 64 and not text[begin:vkey].strip(" \t-")
        cls = key_class(name)
        found = value_span(text, sep.end(), cls, rest_of_line=own_line) if cls >= WEAK else None
        if found is not None:
            spans.append(found)
            done = found[1]
    return apply_spans(text, spans)


__all__ = ["cut_window", "lowercase", "needs_scan", "scan_text"]
