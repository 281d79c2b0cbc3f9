"""Key material in any framing: PEM/PGP/PuTTY/OpenVPN blocks, their lines, JWK private members.

* A block (``-----BEGIN … PRIVATE KEY-----`` to its END line, or to the end of the text when
  the END line is missing; PGP secret key blocks, PuTTY key files, OpenVPN static keys) goes
  whole; five dashes or three, with or without the blank before the dashes.
* Lines, in text or as the items of a list (a key as a YAML or JSON list of lines, or split
  across MCP content items): body lines before an END line of a private key go with it (the
  BEGIN line was in an earlier item), and two or more full-width body lines (64, 70 or 76
  base64 characters, not hex) with no BEGIN line go too (a middle item). Lines of a
  certificate or public key block are kept, and so is its body before its END line.
* JWK private members (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``, ``k``, ``oth``) of a
  key that has a ``kty``, in JSON or YAML text; the walk applies ``JWK_PRIVATE`` to objects.
"""

from __future__ import annotations

import re

from tooltrail.schemas.redact.keys import REDACTED
from tooltrail.schemas.redact.patterns import anchored, scanner
from tooltrail.schemas.redact.vendors import runs_of

JWK_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})
_WORDS = r"(?:[A-Z0-9]{1,20} ){0,4}"
_BLOCK = scanner(
    rf"-{{3,5}} ?BEGIN {_WORDS}(?:PRIVATE|SECRET) KEY(?: BLOCK)?.*?"
    rf"(?:-{{3,5}} ?END {_WORDS}(?:PRIVATE|SECRET) KEY(?: BLOCK)? ?-{{3,5}}|\Z)"
    r"|-----BEGIN OpenVPN Static key V\d-----.*?(?:-----END OpenVPN Static key V\d-----|\Z)"
    r"|PuTTY-User-Key-File-\d: .*?(?:Private-MAC: [0-9a-fA-F]{0,128}+|\Z)",
    re.DOTALL,
)
#: What frames a line of key material: indentation, quotes, commas, brackets (and "- ").
_FRAMING = " \t\"',[]\r"
_BODY = anchored(r"[A-Za-z0-9+/]{16,}+={0,3}")
_HEX = anchored(r"[0-9a-f]++|[0-9A-F]++")
_HEADER = anchored(r"(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset): [^\n]{0,256}+")
_FULL_WIDTHS = (64, 70, 76)
_LINE_BREAK = scanner(r"\r?\n|\\r?\\n")
_JWK_JSON = scanner(
    r'"(?:d|p|q|dp|dq|qi|k|oth)"[ \t]{0,8}+:[ \t]{0,8}+(?P<v>"(?:[^"\\\n]|\\.){1,8192}+"'
    r"|\[[^\]\n]{0,8192}+\])"
)
_JWK_YAML = scanner(
    r"(?m)^[ \t]{0,64}+(?:- )?(?:d|p|q|dp|dq|qi|k)[ \t]{0,8}+:[ \t]{1,8}+(?P<v>[^\s#]{8,8192}+)"
)
BLOCK_GATES = ("private key", "secret key", "putty-user", "static key", "-----end", "---- end")
OUT, BLANK, BODY, FULL, HEADER, BEGIN_PRIVATE, END_PRIVATE, BEGIN_PUBLIC, END_PUBLIC = range(9)


def redact_blocks(text: str) -> str:
    """Every private key block of ``text`` becomes ``<redacted>`` (see module docstring)."""
    return _BLOCK.sub(REDACTED, text)


def _core(line: str) -> str:
    """A line without its framing: ``    - 'MIIE…',`` → ``MIIE…``."""
    core = line.strip(_FRAMING)
    return core[2:].strip(_FRAMING) if core.startswith("- ") else core


def line_kind(line: str) -> int:
    """What one line (framing stripped) is: a BEGIN or END line, a body or header line, …"""
    core = _core(line)
    if not core:
        return BLANK
    if core.startswith(("-----BEGIN", "---BEGIN", "---- BEGIN", "----- BEGIN")):
        return BEGIN_PRIVATE if _is_private(core) else BEGIN_PUBLIC
    if core.startswith(("-----END", "---END", "---- END", "----- END")):
        return END_PRIVATE if _is_private(core) else END_PUBLIC
    if _BODY.fullmatch(core) is not None:
        full = len(core) in _FULL_WIDTHS and _HEX.fullmatch(core) is None
        return FULL if full else BODY
    return HEADER if _HEADER.fullmatch(core) is not None else OUT


def _is_private(core: str) -> bool:
    upper = core.upper()
    return "PRIVATE KEY" in upper or "SECRET KEY" in upper or "STATIC KEY" in upper


def key_lines(kinds: list[int]) -> set[int]:
    """Indices of the lines (by ``line_kind``) that hold private key material."""
    secret: set[int] = set()
    run: list[int] = []
    state = OUT

    def flush() -> None:
        if sum(kinds[i] == FULL for i in run) >= 2:
            secret.update(run)
        run.clear()

    for i, kind in enumerate(kinds):
        if state == BEGIN_PRIVATE:
            secret.add(i)
            state = OUT if kind == END_PRIVATE else state
        elif state == BEGIN_PUBLIC:
            state = OUT if kind == END_PUBLIC else state
        elif kind in (BODY, FULL) or (kind == HEADER and run):
            run.append(i)
        elif kind == END_PRIVATE:
            secret.update(run)
            secret.add(i)
            run.clear()
        elif kind == END_PUBLIC:
            run.clear()
        else:
            flush()
            if kind == BEGIN_PRIVATE:
                secret.add(i)
            state = kind if kind in (BEGIN_PRIVATE, BEGIN_PUBLIC) else OUT
    flush()
    return secret


def has_key_lines(text: str, lower: str) -> bool:
    """Cheap gate of ``redact_key_lines``: an END line of a key, or a full-width body line."""
    if "end" in lower and ("-end" in lower or "- end" in lower):
        return True
    return len(text) >= 130 and "\n" in text and bool(runs_of(text).bare)


def _full_lines_near_runs(text: str) -> bool:
    """Two full-width body lines, looked for only on the lines where the vendor scan found
    bare runs (each line read once)."""
    found, line_end = 0, -1
    for a, _ in runs_of(text).bare:
        if a < line_end:
            continue
        start = text.rfind("\n", max(0, a - 100), a) + 1
        end = text.find("\n", a, a + 100)
        line_end = end if end != -1 else a + 100
        width = len(_core(text[start:line_end]))
        if width in _FULL_WIDTHS or "\\n" in text[start:line_end]:
            found += 1
            if found >= 2:
                return True
    return False


def redact_key_lines(text: str) -> str:
    """Lines of key material of ``text`` whose block lost its BEGIN or END line (module doc).

    Lines are split on real newlines and on ``\\n`` escapes (a key inside JSON text).
    """
    lower = text.lower()
    markers = "begin" in lower or "end" in lower
    if not markers and not _full_lines_near_runs(text):
        return text
    spans, pos = [], 0
    for brk in _LINE_BREAK.finditer(text):
        spans.append((pos, brk.start()))
        pos = brk.end()
    spans.append((pos, len(text)))
    if markers:
        kinds = [line_kind(text[a:b]) for a, b in spans]
    else:  # only full-width body lines can matter: others are not even read
        kinds = [line_kind(text[a:b]) if 64 <= b - a <= 100 else OUT for a, b in spans]
    if not any(k in (FULL, END_PRIVATE) for k in kinds):
        return text
    secret = key_lines(kinds)
    if not secret:
        return text
    parts, last = [], 0
    for i in sorted(secret):
        a, b = spans[i]
        line = text[a:b]
        core = _core(line)
        lead = line.find(core) if core else -1
        if lead >= 0:
            parts += [text[last : a + lead], REDACTED]
            last = a + lead + len(core)
    parts.append(text[last:])
    return "".join(parts)


def redact_key_list(items: list[object]) -> list[object] | None:
    """A list of lines holding key material, its lines redacted; None if it holds none."""
    kinds = [line_kind(item) if isinstance(item, str) else OUT for item in items]
    if not any(k in (FULL, END_PRIVATE, BEGIN_PRIVATE) for k in kinds):
        return None
    secret = key_lines(kinds)
    if not secret:
        return None
    return [REDACTED if i in secret else item for i, item in enumerate(items)]


def redact_jwk_text(text: str) -> str:
    """The private members of a JWK in JSON or YAML text that names a ``kty``."""
    text = _JWK_JSON.sub(lambda m: _replace_group(m, "v", f'"{REDACTED}"'), text)
    return _JWK_YAML.sub(lambda m: _replace_group(m, "v", REDACTED), text)


def _replace_group(m: re.Match[str], group: str, repl: str) -> str:
    start, end = m.start(group) - m.start(), m.end(group) - m.start()
    whole = m.group()
    return whole[:start] + repl + whole[end:]
