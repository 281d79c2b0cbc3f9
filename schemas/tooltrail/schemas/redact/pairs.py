"""``key = value`` in text: env files, YAML, JSON (whole or cut), headers, flags, query strings.

Driven by occurrences of a few terms every sensitive key contains (``pass``, ``token``,
``key`` …): for each, the surrounding key is read (``DB_PASSWORD``, ``"client-key-data"``,
``--client-secret``), classified (``redact_keys``), and if sensitive its value is replaced:
a quoted string, a ``{…}``/``[…]`` container, an indented YAML block (kept line by line when
a line's key is benign, so a pod's ``secret:`` volume survives), the rest of a YAML or header
line, a connection-string field up to ``;``, a heredoc (``<<EOT … EOT``), or one bare token.
``Authorization: Bearer x`` keeps the scheme. Subscripts and calls count as keys
(``$cfg['db_password'] = 'x'``, ``define('DB_PASSWORD', 'x')``). ``true``/``false``/``null``,
references (``values.is_reference``) and ``<redacted>`` are kept. Every regex is anchored at
a position found by ``str.find`` and bounded, and what was judged is never read again, so
the pass is linear.
"""

from __future__ import annotations

import re

from tooltrail.schemas.redact.blocks import data_policy, redact_block
from tooltrail.schemas.redact.keys import REDACTED, STRONG, WEAK, key_class
from tooltrail.schemas.redact.patterns import anchored, scanner
from tooltrail.schemas.redact.values import (
    is_identifier,
    keep_value,
    looks_b64_secret,
    looks_secret,
)

#: Every STRONG or WEAK key (``redact_keys``) contains one of these (lower case).
KEY_TERMS = (
    "pass",
    "pw",
    "secret",
    "cred",
    "auth",
    "cookie",
    "key",
    "sig",
    "bearer",
    "jwt",
    "dockerc",
    "token",
    "otp",
    "_pat",
    "psk",
    "encrypt",
)
DATA_KEYS = {"data": "data", "stringdata": "stringData", "binarydata": "binaryData"}
#: A run of key characters (matched forwards, and backwards on the reversed text).
_KEY_RUN = anchored(r"[A-Za-z0-9_.\-]{0,128}+")
#: ``key = v``, ``"key": v``, ``['key'] => v``, and ``'KEY', 'v'`` (``define('DB_PASSWORD', 'x')``).
_KEY_SEP = anchored(
    r"(?P<key>[A-Za-z0-9_.\-]{1,128}+)(?P<q>\\?[\"'])?\]?[ \t]{0,8}+"
    r"(?P<sep>:=|=>|==|=|:(?!//)|,(?=[ \t]{0,8}+[\"']))[ \t]{0,8}+"
)
_FLAG_SPACE = anchored(r"(?P<key>-{1,2}[A-Za-z][A-Za-z0-9_.\-]{0,126}+)[ \t]{1,16}+(?=[^\s-])")
_DQ = anchored(r'"(?:[^"\\\n]|\\.){0,4096}+"?')
_SQ = anchored(r"'[^'\n]{0,4096}+'?")
_EDQ = anchored(r'\\"(?:[^"\\\n]|\\[^"\n]){0,4096}+(?:\\")?')
_BARE = anchored(r"[^\s,;&\"'<>{}\[\]\\`]{1,4096}+")
_TO_EOL = anchored(r"[^\n\r]{1,4096}+")
_TO_SEMI = anchored(r"[^;\n\r\"']{1,4096}+")
_HEREDOC = anchored(r"<<-?[ \t]{0,4}+[\"']?(?P<tag>[A-Za-z_]\w{0,31}+)[\"']?[ \t]{0,16}+\r?\n")
_SCHEME = anchored(
    r"(?i:bearer|basic|token|digest|negotiate|ntlm|bot|ssws|splunk|aws4-hmac-sha256|oauth"
    r"|apikey|sharedaccesssignature|dsn)[ \t]{1,16}+(?=\S)"
)
_PARAM_SCHEMES = ("digest", "aws4-hmac-sha256", "oauth")
_BLOCK_OPEN = anchored(
    r"[ \t]{0,64}+(?P<ind>[|>][-+0-9]{0,3}+)?[ \t]{0,64}+(?:#[^\n]{0,1024}+)?(?:\r?\n|\Z)"
)
_LINE_PREFIX = anchored(r"[ \t]{0,256}+(?:-[ \t]{1,16}+)?[\"']?")
_CONTAINER = scanner(r'"(?:[^"\\\n]|\\.){0,2048}+"?|\'[^\'\n]{0,2048}+\'?|[\[\]{}]')
_JSON_PAIR = scanner(
    r'"(?P<k>[^"\\\n]{1,256}+)"[ \t]{0,16}+:[ \t]{0,16}+(?P<v>"(?:[^"\\\n]|\\.){0,8192}+")'
)
_PATHLIKE = anchored(r"[\"']?(?:[/~$%]|[A-Za-z]:[\\/])")
_SECRET_KIND = scanner(r"kind[\"']?[ \t]{0,8}+:[ \t]{0,8}+[\"']?secret\b")
_MAX_CONTAINER = 16_384


_LAST_TERMS: list[tuple[str, tuple[str, ...], list[int]]] = []


def term_positions(lower: str, terms: tuple[str, ...]) -> list[int]:
    """Sorted start offsets of every occurrence of every term in ``lower`` (the last answer
    is kept: several passes ask for the same text and terms in a row)."""
    last = _LAST_TERMS[0] if _LAST_TERMS else None
    if last is not None and last[0] is lower and last[1] is terms:
        return last[2]
    found_list = _term_positions(lower, terms)
    _LAST_TERMS[:] = [(lower, terms, found_list)]
    return found_list


def _term_positions(lower: str, terms: tuple[str, ...]) -> list[int]:
    found: set[int] = set()
    for term in terms:
        i = lower.find(term)
        while i != -1:
            found.add(i)
            i = lower.find(term, i + 1)
    return sorted(found)


def line_start(text: str, at: int) -> int:
    """The start of the line holding ``at``, looked for at most 512 characters back (a line
    with more before ``at`` is no YAML or config line: ``at - 512`` stands for it)."""
    low = max(0, at - 512)
    found = text.rfind("\n", low, at)
    return found + 1 if found != -1 or low == 0 else low


def after_semicolon(text: str, line_start: int, start: int) -> bool:
    """True if ``start`` follows ``;`` on its line (blanks between): a connection-string field."""
    j, low = start, max(line_start, start - 64)
    while j > low and text[j - 1] in " \t":
        j -= 1
    return j > line_start and text[j - 1] == ";"


def redact_pairs(text: str, lower: str, k8s: bool) -> str:
    """Redact the value of every sensitive ``key = value`` pair of ``text`` (see module doc).

    Linear: a term inside a key or a value already judged is skipped, and a YAML block or a
    container, once judged, is never read again for a term inside it.
    """
    terms = (*KEY_TERMS, "data") if k8s else KEY_TERMS
    secret_doc = k8s and _SECRET_KIND.search(lower) is not None
    spans: list[tuple[int, int, str]] = []
    rev, n, done = text[::-1], len(text), 0
    for i in term_positions(lower, terms):
        if i < done:
            continue
        start = i - len(_KEY_RUN.match(rev, n - i).group())  # type: ignore[union-attr]
        if start < done:
            continue
        found = _pair_at(text, start, secret_doc)
        if found is not None:
            if found[2] != text[found[0] : found[1]]:
                spans.append(found)
            done = found[1]
        else:  # every later term inside this key would find the same key again
            done = _KEY_RUN.match(text, start).end()  # type: ignore[union-attr]
    return apply_spans(text, spans)


_CLOSE_TAG = scanner(
    r"</(?P<tag>[A-Za-z_][\w.\-]{0,63}+(?::[A-Za-z_][\w.\-]{0,63}+)?)[ \t]{0,16}+>"
)
_XML_WINDOW = 2048


def redact_xml_elements(text: str) -> str:
    """``<password>hunter2</password>``, ``<ns:ApiKey>…</ns:ApiKey>``: the text of an element
    whose (local) name is a sensitive key; CDATA included. Elements holding elements are left
    to their children. Each closing tag looks back at most ``_XML_WINDOW`` characters."""
    spans: list[tuple[int, int, str]] = []
    for close in _CLOSE_TAG.finditer(text):
        tag = close.group("tag")
        cls = key_class(tag.rpartition(":")[2])
        if cls < WEAK:
            continue
        j = close.start()
        at = text.rfind("<" + tag, max(0, j - _XML_WINDOW), j)
        after = at + 1 + len(tag)
        if at < 0 or after >= j or text[after] not in " \t\r\n>":
            continue
        gt = text.find(">", after, j)
        if gt < 0 or text[gt - 1] == "/":
            continue
        start, end = gt + 1, j
        value = text[start:end]
        if value.startswith("<![CDATA[") and value.endswith("]]>"):
            start, end = start + 9, end - 3
            value = text[start:end]
        elif "<" in value:
            continue
        if not value.strip() or keep_value(value) or (cls == WEAK and not looks_secret(value)):
            continue
        spans.append((start, end, REDACTED))
    return apply_spans(text, spans)


def apply_spans(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Replace non-overlapping, ordered ``(start, end, replacement)`` spans of ``text``."""
    if not spans:
        return text
    parts, last = [], 0
    for start, end, repl in spans:
        parts += [text[last:start], repl]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _pair_at(text: str, start: int, secret_doc: bool) -> tuple[int, int, str] | None:
    """The judged span of the pair whose key starts at ``start`` (its replacement may be the
    span itself: judged, kept), or None if no sensitive pair starts there."""
    m = _KEY_SEP.match(text, start)
    if m is None:
        flag = _FLAG_SPACE.match(text, start)
        if flag is None or key_class(flag.group("key")) < WEAK:
            return None
        return _value(text, flag.end(), key_class(flag.group("key")), inline=True)
    key, sep = m.group("key"), m.group("sep")
    data_key = DATA_KEYS.get(key.lower())
    if data_key is not None and key == data_key and sep == ":":
        return _data_map(text, m, secret_doc)
    cls = key_class(key)
    if cls < WEAK or (sep == "," and not m["q"]):
        return None
    if sep == ",":  # define('DB_PASSWORD', 'x'): a quoted name, then a quoted value
        return _listed_value(text, m.end(), cls)
    if cls == WEAK and key.lower() == "pwd" and _PATHLIKE.match(text, m.end()) is None:
        cls = STRONG  # ODBC's ``PWD=hunter2;``; the shell's ``PWD`` is always a path
    begin = line_start(text, start)
    yaml_line = _LINE_PREFIX.fullmatch(text, begin, start) is not None
    if sep == ":" and cls == STRONG and yaml_line:
        opener = _BLOCK_OPEN.match(text, m.end())
        if opener is not None:
            return redact_block(text, opener.end(), start - begin, bool(opener["ind"]))
    rest_of_line = (sep == ":" and yaml_line) or "cookie" in key.lower()
    conn = after_semicolon(text, begin, start)
    return _value(text, m.end(), cls, inline=not rest_of_line, conn=conn, quoted=bool(m["q"]))


def _listed_value(text: str, at: int, cls: int) -> tuple[int, int, str] | None:
    """The quoted value after ``'NAME',``; kept when it is one more name (a list of names)."""
    found = _value(text, at, cls, inline=True)
    if found is None or text[at] not in "\"'":
        return None
    inner = text[at + 1 : found[1] - 1]
    return (found[0], found[1], text[found[0] : found[1]]) if is_identifier(inner) else found


def value_span(text: str, at: int, cls: int, *, rest_of_line: bool) -> tuple[int, int, str] | None:
    """The span of a sensitive value starting at ``at`` and its replacement (the value itself
    when it is kept), or None when no value starts there.

    A bare value runs to the end of the line when ``rest_of_line`` (YAML, headers), else to
    the next space, comma, ``;`` or ``&``.
    """
    return _value(text, at, cls, inline=not rest_of_line)


def _value(
    text: str, at: int, cls: int, *, inline: bool, conn: bool = False, quoted: bool = False
) -> tuple[int, int, str] | None:
    if at >= len(text):
        return None
    c = text[at]
    end, repl = at, REDACTED
    scheme_value = False  # what an auth scheme precedes is a credential, never a path
    if c == '"':
        end, repl = _DQ.match(text, at).end(), f'"{REDACTED}"'  # type: ignore[union-attr]
    elif c == "'":
        end, repl = _SQ.match(text, at).end(), f"'{REDACTED}'"  # type: ignore[union-attr]
    elif text.startswith('\\"', at):
        end, repl = _EDQ.match(text, at).end(), f'\\"{REDACTED}\\"'  # type: ignore[union-attr]
    elif c in "{[":
        if cls == WEAK:  # judged by its own pairs: a container is never random-looking
            return None
        end, repl = container_end(text, at), f'"{REDACTED}"' if quoted else REDACTED
    elif c == "<" and (doc := _HEREDOC.match(text, at)) is not None:
        return _heredoc(text, at, doc)
    elif (scheme := _SCHEME.match(text, at)) is not None:
        whole = scheme.group().strip().lower() in _PARAM_SCHEMES or not inline
        rest = (_TO_EOL if whole else _BARE).match(text, scheme.end())
        at = scheme.end()
        end = at + len(text[at : rest.end()].rstrip()) if rest else at
        scheme_value = True
    else:
        pattern = _TO_SEMI if conn else _BARE if inline else _TO_EOL
        found = pattern.match(text, at)
        end = at + len(found.group().rstrip()) if found else at
    value = text[at:end]
    if end == at:
        return None
    if keep_value(value) and not (scheme_value and value[:1] in "/~"):
        return at, end, value  # judged and kept: no term inside it is read again
    if cls == WEAK and not scheme_value and not looks_secret(value):
        return at, end, value
    return at, end, repl


def _heredoc(text: str, at: int, doc: re.Match[str]) -> tuple[int, int, str]:
    """``password = <<EOT … EOT`` (HCL, shell): the lines up to the closing tag go."""
    tag, pos, limit = doc["tag"], doc.end(), min(len(text), doc.end() + _MAX_CONTAINER)
    while pos < limit:
        nl = text.find("\n", pos, limit)
        stop = limit if nl == -1 else nl
        if text[pos:stop].strip() == tag:
            return doc.end(), pos, REDACTED + "\n"
        pos = stop + 1
    return doc.end(), limit, REDACTED


def container_end(text: str, start: int) -> int:
    """End of the ``{…}``/``[…]`` opening at ``start`` (strings skipped); bounded for cut text."""
    depth, limit = 0, min(len(text), start + _MAX_CONTAINER)
    for m in _CONTAINER.finditer(text, start, limit):
        piece = m.group()
        if piece in "[{":
            depth += 1
        elif piece in "]}":
            depth -= 1
            if depth == 0:
                return m.end()
    return limit


def _data_map(text: str, m: re.Match[str], secret_doc: bool) -> tuple[int, int, str] | None:
    """A Kubernetes ``data``/``stringData`` map: every value of a Secret, base64-looking
    random values where the kind is unknown (text cut before ``kind:``)."""
    everything = secret_doc or m.group("key") == "stringData"
    at = m.end()
    if text.startswith("{", at):
        end = container_end(text, at)
        body = _JSON_PAIR.sub(lambda p: _data_pair(p, everything), text[at:end])
        return at, end, body
    opener = _BLOCK_OPEN.match(text, at)
    if opener is None:
        return None
    col = m.start() - line_start(text, m.start())
    return redact_block(text, opener.end(), col, False, data_policy(everything, looks_b64_secret))


def _data_pair(p: re.Match[str], everything: bool) -> str:
    value = p.group("v")[1:-1]
    if value and (everything or looks_b64_secret(value)):
        return f'"{p.group("k")}": "{REDACTED}"'
    return p.group()
