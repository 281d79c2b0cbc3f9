"""What one message may cost to decode, checked on its bytes before anything is built.

JSON is cheap to write and dear to build: a 1 MiB message of 349,000 empty objects became
~48 MiB of Python objects, and nesting past pydantic's recursion limit failed only after
everything was parsed. ``DecodeLimits`` bounds a message's nesting depth, its number of
values, the items of any one array or object and the length of any one string;
``over_limits`` checks them on the raw text, so a hostile message costs a scan of its bytes
and is refused before ``orjson`` allocates a single object for it. The bound on what a
message can grow into is then about ``max_nodes`` objects (~3 MB at the defaults), whatever
its shape.

Most messages are cleared by counting brackets and commas (C speed, no tokenizing): if the
counts cannot exceed a limit, nothing can. Otherwise a tokenizer walks the structure (strings
are skipped in one regex step, in linear time) and stops at the first limit crossed, so its
cost is bounded by the limits, not by the message.

Counting rules (they are the wire contract, stated in the JSON Schema snapshots):

* depth: the message object is level 1, each array or object inside adds one;
* nodes: every value counts one — objects, arrays, strings, numbers, booleans, nulls — and
  object keys do not;
* items: the elements of one array or the members of one object;
* strings: the bytes between the quotes as written (escapes included), keys too.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_LIMITS",
    "DecodeLimits",
    "contract_note",
    "over_limits",
    "repair_lone_surrogates",
]


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds on one message, checked before it is parsed (see module docstring)."""

    max_depth: int = 128
    max_nodes: int = 20_000
    max_items: int = 10_000
    max_string_bytes: int = 1_048_576


DEFAULT_LIMITS = DecodeLimits()


def contract_note(limits: DecodeLimits = DEFAULT_LIMITS) -> str:
    """The limits as the JSON Schema snapshots state them (JSON Schema cannot say them)."""
    return (
        f"readers refuse, before validating, a message nested deeper than {limits.max_depth}"
        " levels (the message object is level 1), holding over"
        f" {limits.max_nodes} values (keys not counted), an array or object of over"
        f" {limits.max_items} items, or a string of over {limits.max_string_bytes} bytes as"
        " written; a lone UTF-16 surrogate escape (a string cut inside a character) is read"
        " as U+FFFD"
    )


#: A string once escaped backslashes and quotes are masked: from its opening quote to its
#: closing one or, if it never ends, to the end of the text (each byte is looked at once).
_STRING = re.compile(rb'"[^"]*+"?')
_BLANKS = b" \t\r\n"
_KEEP_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_KEEP_STRUCTURE = bytes(set(range(256)) - set(b"[]{},"))
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def over_limits(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> str | None:
    """Why ``data`` (JSON text) exceeds ``limits``, or None if it does not.

    Never raises; text that is not JSON may pass (the parser refuses it next).
    """
    opens = data.count(b"{") + data.count(b"[")
    values = 1 + opens + data.count(b",")  # at least as many as the message holds
    if (
        opens <= limits.max_depth
        and values <= min(limits.max_nodes, limits.max_items)
        and len(data) <= limits.max_string_bytes
    ):
        return None
    return _exact(data, limits)


def _exact(data: bytes, limits: DecodeLimits) -> str | None:
    """The exact counts, on the message with its strings and blanks taken out (C speed)."""
    if b"\\" in data:  # mask escaped backslashes, then escaped quotes: only delimiters remain
        data = data.replace(b"\\\\", b"__").replace(b'\\"', b"__")
    strings = data.count(b'"') // 2  # keys and string values: at most two per value
    if strings > 2 * limits.max_nodes:
        return f"{strings} strings, over the {limits.max_nodes}-value limit (two per value at most)"
    if len(data) > limits.max_string_bytes:
        longest = max(map(len, data.split(b'"')[1::2]), default=0)
        if longest > limits.max_string_bytes:
            return f"a string of {longest} bytes, over the {limits.max_string_bytes}-byte limit"
    skeleton = _STRING.sub(b"0", data).translate(None, _BLANKS)  # a value where a string was
    containers = skeleton.count(b"[") + skeleton.count(b"{")
    commas = skeleton.count(b",")
    nodes = 1 + commas + containers - skeleton.count(b"[]") - skeleton.count(b"{}")
    if nodes > limits.max_nodes:
        return f"{nodes} values, over the {limits.max_nodes}-value limit"
    brackets = skeleton.translate(None, _KEEP_BRACKETS)  # at most 2 * max_nodes of them
    depth = max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)
    if depth > limits.max_depth:
        return f"nested {depth} levels deep, over the {limits.max_depth}-level limit"
    if commas + 1 > limits.max_items:
        return _widest(skeleton.translate(None, _KEEP_STRUCTURE), limits.max_items)
    return None


def _widest(structure: bytes, limit: int) -> str | None:
    """Whether one array or object holds over ``limit`` items (commas counted per level)."""
    commas: list[int] = []
    for byte in structure:
        if _STEP[byte] > 0:
            commas.append(0)
        elif _STEP[byte] < 0:
            if commas:
                commas.pop()
        elif commas:
            commas[-1] += 1
            if commas[-1] + 1 > limit:
                return f"an array or object of over {limit} items"
    return None


#: A lone UTF-16 surrogate escape (a string cut inside a character, as ``JSON.stringify``
#: writes it); an escaped backslash or a whole pair is matched first and kept as it is.
_SURROGATE = re.compile(
    rb"\\(?:\\|u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|u[dD][89a-fA-F][0-9a-fA-F]{2})"
)


def repair_lone_surrogates(data: bytes) -> bytes:
    """``data`` with every lone surrogate escape (``\\ud83d`` alone) replaced by ``\\ufffd``.

    JSON allows the escape, UTF-8 cannot hold the character, and orjson refuses it; a
    common encoder writes one for a string cut between the two halves of an emoji.
    """
    return _SURROGATE.sub(_replace, data)


def _replace(match: re.Match[bytes]) -> bytes:
    found = match.group()
    return found if len(found) != 6 else b"\\ufffd"
