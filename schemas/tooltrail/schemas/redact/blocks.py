"""Indented YAML blocks under a sensitive key, processed line by line (copes with cut text).

A block is every following line indented more than the key (or a ``- item`` at the key's
column). Three kinds:

* a block scalar (``key: |``): its lines become one ``<redacted>`` line;
* a mapping or list under a STRONG key: every value is redacted except under names that
  only describe (``secretName``, ``key``, ``path``, ``defaultMode``, ``items``…), so
  ``secret: {secretName: db, defaultMode: 420}`` survives while ``auth: {password: x}``
  does not; ``true``/``false``/``null`` and placeholders are kept;
* a Kubernetes ``data`` map: a value goes when the policy says so (all values of a Secret,
  random-looking base64 where the kind is unknown).
"""

from __future__ import annotations

from collections.abc import Callable

from tooltrail.schemas.redact.keys import REDACTED, WEAK, inherit_keeps, key_class
from tooltrail.schemas.redact.patterns import anchored
from tooltrail.schemas.redact.values import is_public_key, keep_value, looks_secret

#: One YAML line: indent, an optional ``- ``, a key (trailing blanks included), ``:``, a value.
_YAML_LINE = anchored(
    r"(?P<ind>[ \t]*+)(?P<dash>-[ \t]++)?(?P<q>[\"']?)(?P<key>[^\s\"'#:\-][^\"':\n]{0,127}+)"
    r"(?P=q)[ \t]*+:(?:[ \t]++|$)(?P<val>[^\n]*+)"
)
_ITEM = anchored(r"[ \t]*+(?:-[ \t]++)?")
_KEEP = {"{}", "[]", '""', "''"}
Policy = Callable[[str], bool]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def block_end(text: str, start: int, col: int) -> int:
    """Offset just after the last non-blank line of the block starting at ``start``."""
    pos, end, n = start, start, len(text)
    while pos < n:
        nl = text.find("\n", pos)
        stop = n if nl == -1 else nl
        line = text[pos:stop]
        if line.strip():
            ind = _indent(line)
            if ind < col or (ind == col and not line[ind:].startswith("- ")):
                break
            end = stop
        pos = stop + 1
    return end


def _keep(value: str) -> bool:
    return value.strip() in _KEEP or keep_value(value)


def redact_block(
    text: str, start: int, col: int, scalar: bool, data: Policy | None = None
) -> tuple[int, int, str] | None:
    """The block starting at ``start`` and its redacted text (see module docstring), or None
    if there is no block. The replacement may equal the block: judged and kept whole."""
    if start >= len(text):
        return None
    end = block_end(text, start, col + (0 if data is None and not scalar else 1))
    if end <= start:
        return None
    body = text[start:end]
    if scalar:
        if is_public_key(body.strip()):
            return start, end, body
        return start, end, " " * (_indent(body) or col + 2) + REDACTED
    lines = body.split("\n")
    out = _data_lines(lines, data) if data is not None else _inherited_lines(lines)
    return start, end, "\n".join(out)


def _inherited_lines(lines: list[str]) -> list[str]:
    out: list[str] = []
    kept_under: int | None = None  # indent of a descriptive header whose children stay
    cut_under: int | None = None  # indent of a `key: |` whose lines are redacted
    for line in lines:
        ind = _indent(line)
        if not line.strip():
            out.append(line)
            continue
        if kept_under is not None and ind > kept_under:
            out.append(_own_pair(line))  # under a descriptive header: judged by its own key
            continue
        if cut_under is not None and ind > cut_under:
            continue
        kept_under = cut_under = None
        m = _YAML_LINE.fullmatch(line)
        if m is None:
            out.append(_ITEM.match(line).group() + REDACTED)  # type: ignore[union-attr]
            continue
        value = m.group("val").strip()
        if inherit_keeps(m.group("key")):
            kept_under = ind if value in ("", "|", ">", "|-", ">-") else None
            out.append(line)
        elif value.startswith(("|", ">")):
            cut_under = ind
            out.append(line[: m.start("val")] + REDACTED)
        elif _keep(value):
            out.append(line)
        else:
            out.append(line[: m.start("val")] + REDACTED)
    return out


def _own_pair(line: str) -> str:
    """A line under a header that only describes: redacted only if its own key is sensitive."""
    m = _YAML_LINE.fullmatch(line)
    if m is None or key_class(m.group("key").strip()) < WEAK:
        return line
    value = m.group("val").strip()
    if _keep(value) or value.startswith(("|", ">")):
        return line
    if key_class(m.group("key").strip()) == WEAK and not looks_secret(value):
        return line
    return line[: m.start("val")] + REDACTED


def _data_lines(lines: list[str], policy: Policy) -> list[str]:
    out: list[str] = []
    cut_under: int | None = None
    for line in lines:
        ind = _indent(line)
        if cut_under is not None and ind > cut_under and line.strip():
            continue
        cut_under = None
        m = _YAML_LINE.fullmatch(line)
        value = m.group("val").strip() if m is not None else ""
        if m is None or (_keep(value) and not value.startswith(("|", ">"))):
            out.append(line)
        elif value.startswith(("|", ">")):
            if policy is _ALL:
                cut_under = ind
                out.append(line[: m.start("val")] + REDACTED)
            else:
                out.append(line)
        elif policy(value.strip("\"'")):
            out.append(line[: m.start("val")] + REDACTED)
        else:
            out.append(line)
    return out


def _all(_: str) -> bool:
    return True


_ALL: Policy = _all


def data_policy(everything: bool, base64_check: Policy) -> Policy:
    """The policy of a ``data`` map: redact all values, or those ``base64_check`` accepts."""
    return _ALL if everything else base64_check
