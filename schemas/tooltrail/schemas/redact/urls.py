"""Secrets in URLs and connection strings that are not ``key=value`` pairs.

* userinfo: ``scheme://user:password@host``: the password goes (it may hold ``/`` or ``@``:
  the host is after the last ``@``), and a userinfo that is itself a token
  (``https://<token>@github.com``);
* Go DSNs: ``user:password@tcp(host:3306)/db`` (the password may hold ``@``);
* Oracle: ``jdbc:oracle:thin:user/password@host``, ``sqlplus user/password@db``,
  ``expdp``/``rman target``/``CONNECT user/password``;
* webhook URLs whose secret is in the path: after a ``hook``/``webhook``/``trigger``/
  ``integration``/``robot`` segment, every later segment that mixes letters and digits
  (Teams, Mattermost, IFTTT, Feishu, PagerDuty …; Slack and Discord are vendor formats);
* codes and keys in query strings: ``?code=…`` (Azure Functions keys, OAuth codes), ``key``,
  ``sid``, ``ticket``, session ids, when the value looks random.
"""

from __future__ import annotations

from tooltrail.schemas.redact.keys import REDACTED
from tooltrail.schemas.redact.pairs import apply_spans
from tooltrail.schemas.redact.patterns import anchored, scanner
from tooltrail.schemas.redact.values import is_redacted, is_reference, looks_secret

_AUTHORITY = anchored(r"[^\s\"'<>`]{0,1024}+")
_PORT_PATH = anchored(r"\d{1,5}+[/?#]")
_HOST = anchored(r"[A-Za-z0-9.\-]{1,253}+(?::\d{1,5}+)?(?:[/?#]|$)")
_DSN_AT = scanner(r"@(?:tcp[46]?|udp|unix)\(")
_ORACLE = scanner(
    r"(?i:jdbc:oracle:(?:thin|oci8?|kprb):"
    r"|\b(?:sqlplus|sqlldr|expdp|impdp|exp|imp|rman|dgmgrl|sqlcl)"
    r"(?:[ \t]{1,8}+-{1,2}[A-Za-z]{1,16}+)*+[ \t]{1,8}+"
    r"(?:(?:target|auxiliary|catalog)[ \t]{1,8}+|userid=)?"
    r"|(?:^|\n|SQL>)[ \t]{0,16}+conn(?:ect)?[ \t]{1,8}+)"
    r"(?P<user>\"[^\"\n]{1,64}+\"|[\w$#.]{1,64}+)/"
    r"(?P<pw>\"[^\"\n]{1,128}+\"|[^\s@/\"]{1,128}+)(?=@|[ \t\r\n]|\Z)"
)
ORACLE_GATES = ("jdbc:oracle", "sqlplus", "sqlldr", "expdp", "impdp", "rman", "conn", "dgmgrl")
_URL = scanner(r"https?://[^\s\"'<>`]{1,2048}+")
_HOOK_MARKERS = frozenset(
    {"hook", "hooks", "webhook", "webhooks", "webhookb2", "incomingwebhook", "trigger"}
    | {"triggers", "integration", "robot", "catch", "key"}
)
_HOOK_GATES = ("hook", "trigger", "integration", "robot", "catch", "/key/")
_QUERY_SECRET = scanner(
    r"(?<=[?&;#])(?i:code|key|sid|ticket|session|sessionid|sessid|jsessionid|phpsessid|otp)"
    r"=(?P<v>[^&#\s\"'<>]{6,2048}+)"
)


def redact_userinfo(text: str) -> str:
    """``scheme://user:password@host`` (also JSON-escaped ``:\\/\\/``): see module docstring."""
    spans: list[tuple[int, int, str]] = []
    for marker in ("://", ":\\/\\/"):
        pos = 0
        while (i := text.find(marker, pos)) != -1:
            start = i + len(marker)
            nested = text.find(marker, start, start + 1024)
            stop = nested if nested != -1 else len(text)
            cand = _AUTHORITY.match(text, start, stop).group()  # type: ignore[union-attr]
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
    host = _HOST.match(authority, at + 1)
    if _PORT_PATH.match(password) and (host is None or not _has_letter(host.group())):
        return None  # "host:8080/pkg@1.2.3": a port, then a path holding "@"
    if is_redacted(password) or is_reference(password):
        return None
    return colon + 1, at


def _has_letter(host: str) -> bool:
    return any(c.isalpha() for c in host)


def redact_dsn(text: str) -> str:
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


def redact_oracle(text: str) -> str:
    """``user/password`` in Oracle connect strings (see module docstring)."""
    spans = [
        (m.start("pw"), m.end("pw"), REDACTED)
        for m in _ORACLE.finditer(text)
        if not is_redacted(m.group("pw").strip('"'))
    ]
    return apply_spans(text, spans)


def redact_hook_paths(text: str) -> str:
    """Random-looking path segments after a webhook segment of an ``http(s)`` URL."""
    spans: list[tuple[int, int, str]] = []
    for m in _URL.finditer(text):
        url = m.group()
        path_start = url.find("/", url.find("//") + 2)
        lower = url.lower()
        if path_start == -1 or not any(w in lower for w in _HOOK_GATES):
            continue
        ends = [i for i in (url.find("?"), url.find("#")) if i > path_start]
        pos, hooked = m.start() + path_start + 1, False
        for segment in url[path_start + 1 : min(ends, default=len(url))].split("/"):
            if hooked and _secret_segment(segment):
                spans.append((pos, pos + len(segment), REDACTED))
            hooked = hooked or segment.lower() in _HOOK_MARKERS
            pos += len(segment) + 1
    return apply_spans(text, spans)


def _secret_segment(segment: str) -> bool:
    """A path segment that is a key: letters and digits mixed (six or more), or random."""
    if len(segment) < 6 or is_redacted(segment):
        return False
    has_digit = any(c.isdigit() for c in segment)
    return (has_digit and any(c.isalpha() for c in segment)) or looks_secret(segment)


def redact_query_secrets(text: str) -> str:
    """``?code=…``, ``&key=…``, ``sid=…`` … whose value looks random (module docstring)."""
    spans = [
        (m.start("v"), m.end("v"), REDACTED)
        for m in _QUERY_SECRET.finditer(text)
        if looks_secret(m.group("v")) and not is_redacted(m.group("v"))
    ]
    return apply_spans(text, spans)
