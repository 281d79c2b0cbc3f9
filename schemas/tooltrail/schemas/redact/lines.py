"""Credential files and config lines whose secret has no ``key=value`` around it.

* ``.pgpass``: ``host:port:db:user:password`` (the fifth field);
* MTA SASL password maps: Postfix ``[smtp.host]:587 user@example.com:password``, Exim
  ``passwd.client`` (``*.host:user:password``), sendmail ``authinfo`` (``"P:password"``);
* ``.netrc``: ``machine h login u password x`` (also one keyword per line), ``account x``;
* config keyword lines: ``requirepass x``, ``masterauth x``, ``bindpw x``, ``rootpw x``
  (compound names that name a secret); plain ``password x`` / ``secret x`` only in a file of
  ``keyword value`` lines (msmtp, fetchmail);
* strongSwan ``ipsec.secrets``: ``: PSK "x"``, ``user : EAP "x"``; Cisco ``password 7 x``,
  ``secret 5 x``; Samba ``-U user%password``; LDAP binds ``simple_bind_s(dn, "x")``.
Every pattern starts at a line start or a literal, and its runs are bounded.
"""

from __future__ import annotations

import re

from tooltrail.schemas.redact.keys import REDACTED, STRONG, key_class, split_words
from tooltrail.schemas.redact.pairs import KEY_TERMS, apply_spans, term_positions
from tooltrail.schemas.redact.patterns import anchored, scanner
from tooltrail.schemas.redact.values import STOP_WORDS, is_redacted, keep_value

_PGPASS = scanner(
    r"(?m)^[^:\s#/][^:\s/]{0,254}+:(?:\d{1,5}+|\*):[^:\s]{1,255}+:[^:\s]{1,255}+:"
    r"(?P<v>[^\n]{1,512}+)"
)
_SASL_MAP = scanner(
    r"(?m)^[ \t]{0,16}+(?P<host>\[[^\]\n]{1,253}+\](?::\d{1,5}+)?|[\w.\-]{1,253}+(?::\d{1,5}+)?)"
    r"[ \t]{1,64}+(?P<user>[^\s:]{1,256}+):(?P<v>\S{1,512}+)[ \t]{0,16}+$"
)
_EXIM = scanner(r"(?m)^(?P<host>\*?[\w.\-]{1,253}+):(?P<user>[^:\s]{1,256}+):(?P<v>\S{1,512}+)$")
_AUTHINFO = scanner(r"\"P[:=](?P<v>[^\"\n]{1,512}+)\"")
_NETRC = scanner(r"(?i)\b(?:password|passwd|account)[ \t\r\n]{1,16}+(?P<v>[^\s]{1,512}+)")
_KEYWORD_LINE = anchored(
    r"(?m)[ \t]{0,64}+(?P<k>[A-Za-z_][\w.\-]{1,63}+)[ \t]{1,64}+(?P<v>[^\s]{1,512}+)"
    r"[ \t]{0,16}+$"
)
_KEYWORD_LINE_ANY = scanner(
    r"(?m)^[ \t]{0,64}+[A-Za-z_][\w.\-]{1,63}+[ \t]{1,64}+[^\s]{1,512}+[ \t]{0,16}+$"
)
_PGPASS_GATE = scanner(r":(?:\d{1,5}+|\*):")
_IPSEC = scanner(
    r":[ \t]{0,8}+(?:PSK|EAP|XAUTH|NTLM|PIN)[ \t]{1,8}+(?P<v>\"[^\"\n]{0,512}+\"|\S{1,512}+)"
)
_CISCO = scanner(
    r"(?i)\b(?:password|secret|key|key-string|pre-shared-key|authentication-key)[ \t]{1,4}+"
    r"[0-9][ \t]{1,4}+(?P<v>\S{1,512}+)"
)
_SAMBA = scanner(r"(?:^|[ \t])-U[ \t]{0,4}+[^\s%]{1,256}+%(?P<v>\S{1,512}+)")
_LDAP_BIND = scanner(
    r"(?i)bind(?:_s)?[ \t]{0,4}+\((?:\"[^\"\n]{0,512}+\"|'[^'\n]{0,512}+'|[^,\n]{1,512}+),"
    r"[ \t]{0,8}+"
    r"(?P<v>\"[^\"\n]{1,512}+\"|'[^'\n]{1,512}+')"
)
#: Literals one of which a text holds when a rule here could apply (besides key terms).
GATES = ("]:", "machine", "authinfo", "bind(", "bind_s(", "passwd.client")
#: Names too plain to be a config keyword on their own (prose: "Token expired").
_PLAIN = frozenset({"password", "passwd", "token", "secret", "key", "pass", "auth", "pin"})
_PLAIN |= frozenset({"credential", "credentials", "passphrase", "signature", "otp", "cookie"})


def redact_credential_lines(text: str, lower: str) -> str:
    """Every rule of the module docstring whose literal gate ``text`` holds."""
    spans: list[tuple[int, int, str]] = []
    if ":" in text and _PGPASS_GATE.search(text) is not None:
        spans += _values(_PGPASS, text)
    if "]:" in text or "sasl" in lower or "smtp" in lower or "relay" in lower:
        spans += _values(_SASL_MAP, text, _sasl_line)
    if "exim" in lower or "passwd.client" in lower:
        spans += _values(_EXIM, text, lambda m: "." in m.group("host"))
    if "authinfo" in lower:
        spans += _values(_AUTHINFO, text)
    if "machine" in lower and ("login" in lower or "password" in lower):
        spans += _values(_NETRC, text, lambda m: m.group("v").lower() not in STOP_WORDS)
    spans += _keyword_lines(text, lower)
    if ": " in text and ("psk" in lower or "eap" in lower or "xauth" in lower):
        spans += _values(_IPSEC, text)
    if any(f" {d} " in text for d in "05789"):
        spans += _values(_CISCO, text)
    if "-u" in lower and "%" in text:
        spans += _values(_SAMBA, text)
    if "bind" in lower and "(" in text:
        spans += _values(_LDAP_BIND, text)
    return apply_spans(text, _disjoint(spans))


def _values(
    pattern: re.Pattern[str], text: str, accept: object = None
) -> list[tuple[int, int, str]]:
    out = []
    for m in pattern.finditer(text):
        value = m.group("v")
        if is_redacted(value.strip("\"'")) or keep_value(value):
            continue
        if callable(accept) and not accept(m):
            continue
        out.append((m.start("v"), m.end("v"), REDACTED))
    return out


def _sasl_line(m: re.Match[str]) -> bool:
    """A Postfix map line: a bracketed host, a user that is an address, or a SASL file."""
    host, user = m.group("host"), m.group("user")
    return host.startswith("[") or ("@" in user and "." in host)


def _keyword_lines(text: str, lower: str) -> list[tuple[int, int, str]]:
    """``keyword value`` lines whose keyword names a secret, read at the lines holding a key
    term (one anchored attempt per line, never a scan of the whole text)."""
    found, seen = [], set()
    for i in term_positions(lower, KEY_TERMS):
        start = text.rfind("\n", max(0, i - 64), i) + 1
        if start in seen or (start == 0 and i > 64):
            continue
        seen.add(start)
        m = _KEYWORD_LINE.match(text, start)
        if m is not None and key_class(m.group("k")) == STRONG:
            found.append(m)
    if not found:
        return []
    config = len(_KEYWORD_LINE_ANY.findall(text, 0, 4096)) >= 2  # a file of keyword lines
    out = []
    for m in found:
        value = m.group("v")
        plain = "".join(split_words(m.group("k"))) in _PLAIN
        if (plain and not config) or value.lower() in STOP_WORDS or keep_value(value):
            continue
        if not is_redacted(value):
            out.append((m.start("v"), m.end("v"), REDACTED))
    return out


def _disjoint(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sorted spans without overlaps (the first of two overlapping spans wins)."""
    out: list[tuple[int, int, str]] = []
    for span in sorted(set(spans)):
        if not out or span[0] >= out[-1][1]:
            out.append(span)
    return out
