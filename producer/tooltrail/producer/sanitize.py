"""Text from the enrichment topic made safe to show an agent: a bounded, inert excerpt.

A hit's salient line is data about a past call, and an attacker may have written it (a log
line, an error message, an event on the topic): it must never read as an instruction nor
render as markup. ``excerpt`` works in one bounded, linear pass per step:

1. the input is cut (``MAX_INPUT_CHARS``), ANSI/OSC escape sequences are removed, and the
   text is NFKC-normalized (full-width and mathematical letters become plain ones);
2. control, format (zero-width, bidi overrides and isolates), private-use and unassigned
   characters are dropped, every run of white space becomes one space;
3. instruction-like framing ("ignore previous instructions", "NOTE TO ASSISTANT", "system:",
   chat-template tokens…) is found on a skeleton where look-alike letters (Cyrillic, Greek)
   read as Latin ones, and the matching text is replaced by ``FILTERED``;
4. markup is neutralized (``< > [ ] `` ` `` become look-alikes that no renderer acts on) and
   the result is cut to ``limit`` characters.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

MAX_INPUT_CHARS: Final = 1_000
FILTERED: Final = "(instruction-like text removed)"
_ANSI = re.compile(
    r"\x1b\[[0-?]{0,32}[ -/]{0,8}[@-~]?"  # CSI
    r"|\x1b\][^\x07\x1b]{0,1000}(?:\x07|\x1b\\)?"  # OSC (terminal titles, hyperlinks)
    r"|\x1b[@-_]?"  # any other escape, or a lone ESC
    r"|\x9b[0-?]{0,32}[ -/]{0,8}[@-~]?"  # 8-bit CSI
)
_SPACE = re.compile(r"\s+")
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})
_LOOKALIKES = str.maketrans(  # one character for one, ASCII letters lowercased
    "аеорсухіјѕԁԛԝһӏɡАВЕКМНОРСТХІЈЅαβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧABCDEFGHIJKLMNOPQRSTUVWXYZ",  # noqa: RUF001 - the look-alikes, on purpose
    "aeopcyxijsdqwhlgabekmhopctxijsabeiknoptuxabezhikmnoptyxabcdefghijklmnopqrstuvwxyz",
)
#: < > [ ] ` become single angle quotes, quill brackets and a modifier prime
_MARKUP = str.maketrans({"<": "\u2039", ">": "\u203a", "[": "\u2045", "]": "\u2046", "`": "\u02b9"})
_W = r"[\W_]{1,3}"  # a bounded separator between words: linear matching, no backtracking
_FRAMING = re.compile(  # on the lowercased skeleton; the look-ahead lets most positions go fast
    "(?=[a-z\\[<])(?:"
    + "|".join(
        (
            rf"\b(?:ignore|disregard|forget|override|bypass){_W}(?:(?:all|any|the|your|my|of"
            rf"|every|previous|prior|above|earlier|preceding|former|system|original|existing"
            rf"|other){_W}){{0,4}}(?:instructions?|prompts?|messages?|rules|context"
            rf"|directions?|guidelines|orders|guardrails)\b",
            rf"\bnote{_W}(?:to|for){_W}(?:the{_W})?(?:assistant|ai|model|agent|llm|bot|claude"
            rf"|gpt|chatgpt|copilot|system)\b",
            rf"\b(?:dear|attention|hey|important){_W}(?:assistant|ai|agent|model|llm|claude"
            rf"|chatgpt)\b",
            r"\b(?:system|assistant|developer|user|human|tool)\s{0,3}:",
            r"\b(?:im_start|im_end|endoftext|begin_of_text|start_header_id|end_header_id"
            r"|eot_id)\b",
            r"\[\s{0,3}/?\s{0,3}(?:inst|sys|system)\s{0,3}\]|<<\s{0,3}/?\s{0,3}sys\s{0,3}>>",
            rf"\byou{_W}are{_W}now\b",
            rf"\bnew{_W}(?:instructions?|rules|task|role|system{_W}prompt)\b",
            rf"\b(?:do{_W}not|don{_W}?t|never){_W}(?:tell|inform|mention|reveal|disclose"
            rf"|warn)\b",
            rf"\b(?:run|execute){_W}(?:the{_W})?(?:following|this|these){_W}(?:commands?"
            rf"|code|scripts?)\b",
        )
    )
    + ")",
    re.ASCII,
)


class _Visible(dict[int, str | None]):
    """``str.translate`` table: control and format characters dropped, white space kept as a
    space; decided per code point once (``__missing__``) and remembered."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        if char.isspace():
            value: str | None = " "
        elif unicodedata.category(char) in _DROP_CATEGORIES:
            value = None
        else:
            value = char
        if len(self) < 65_536:  # a hostile text cannot grow the table without bound
            self[code] = value
        return value


_VISIBLE = _Visible()


def visible(text: str) -> str:
    """``text`` without escape sequences and invisible characters, spaces collapsed."""
    text = _ANSI.sub("", text[:MAX_INPUT_CHARS])
    text = unicodedata.normalize("NFKC", text)[:MAX_INPUT_CHARS]  # NFKC may expand a little
    return _SPACE.sub(" ", text.translate(_VISIBLE)).strip()


def neutralize(text: str) -> tuple[str, bool]:
    """(``text`` with instruction-like framing replaced by ``FILTERED``, whether any was)."""
    skeleton = text.translate(_LOOKALIKES)  # one character for one: spans stay valid
    parts: list[str] = []
    end = 0
    for match in _FRAMING.finditer(skeleton):
        parts += (text[end : match.start()], FILTERED)
        end = match.end()
    if not parts:
        return text, False
    parts.append(text[end:])
    return "".join(parts), True


_BARE_SEQUENCE = re.compile(r"\[[0-?]{0,32}[ -/]{0,8}[@-~]")  # a CSI whose ESC was dropped


def _escaped_framing(text: str) -> bool:
    """True if framing shows once escape characters are merely dropped (with or without what
    followed them): removing a whole sequence may take a letter of the text with it
    (``\x9bignore`` → ``gnore``)."""
    if "\x1b" not in text and "\x9b" not in text:
        return False
    plain = unicodedata.normalize("NFKC", text[:MAX_INPUT_CHARS]).translate(_VISIBLE)
    for variant in (plain, _BARE_SEQUENCE.sub("", plain)):
        if _FRAMING.search(_SPACE.sub(" ", variant).translate(_LOOKALIKES)):
            return True
    return False


def excerpt(text: str, limit: int = 200) -> tuple[str, bool]:
    """A bounded, inert excerpt of untrusted ``text`` and whether framing was filtered out
    (module docstring). Linear in ``len(text)``; never raises on any ``str``."""
    shown, flagged = neutralize(visible(text))
    if not flagged and _escaped_framing(text):
        shown, flagged = FILTERED, True  # an escape sequence hid framing by eating a letter
    shown = shown.translate(_MARKUP)
    if len(shown) > limit:
        shown = shown[: max(limit - 1, 0)].rstrip() + "…"
    return shown, flagged


_LABEL = re.compile(r"[^A-Za-z0-9._:/@+-]")


def label(text: str, limit: int = 64) -> str:
    """A structured field (tool, outcome, kind, id…) reduced to a plain identifier."""
    return _LABEL.sub("_", text[: limit * 2])[:limit]
