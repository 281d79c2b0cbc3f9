"""The outbox's bytes: framed records in segments, and the cursor line.

A record is ``MAGIC | length | crc32 | payload`` where payload is ``key length (2 bytes) |
key | value``. ``parse`` is total: it yields every intact record and steps over anything
else (a torn tail, flipped bits) by resynchronising on the next ``MAGIC``, reporting how
many bytes it skipped instead of logging them, so a reader logs a damaged file once.
The cursor is one fixed-width line written in place (no new block needed on a full disk).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

MAGIC = b"TTR1"
_HEADER = struct.Struct(">4sII")
_KEYLEN = struct.Struct(">H")
_MAX_RECORD = 64 * 1024 * 1024
CURSOR_BYTES = 51  # "<seg:020d> <offset:020d> <crc32:08x>\n"

#: Where a record ends in the outbox: (segment number, end offset in that segment).
Position = tuple[int, int]


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One spilled message and where it ends (for acknowledging it)."""

    key: bytes | None
    value: bytes
    segment: int
    end: int


def frame(key: bytes | None, value: bytes) -> bytes:
    """Encode one record as it is stored on disk."""
    k = key or b""
    payload = _KEYLEN.pack(len(k)) + k + value
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def parse(
    data: bytes, start: int = 0, skipped: list[int] | None = None
) -> Iterator[tuple[int, bytes | None, bytes, int]]:
    """Yield ``(offset, key, value, end)`` for each intact record from ``start``.

    Bytes that are not an intact record are stepped over; their count is appended to
    ``skipped`` when given.
    """
    pos = start
    while pos < len(data):
        if data[pos : pos + 4] == MAGIC and pos + _HEADER.size <= len(data):
            _, length, crc = _HEADER.unpack_from(data, pos)
            end = pos + _HEADER.size + length
            payload = data[pos + _HEADER.size : end]
            if length <= _MAX_RECORD and end <= len(data) and zlib.crc32(payload) == crc:
                (klen,) = _KEYLEN.unpack_from(payload)
                yield pos, payload[2 : 2 + klen] or None, payload[2 + klen :], end
                pos = end
                continue
        nxt = data.find(MAGIC, pos + 1)
        nxt = len(data) if nxt < 0 else nxt
        if skipped is not None:
            skipped.append(nxt - pos)
        pos = nxt


def cursor_line(position: Position) -> bytes:
    """The cursor file's content for ``position`` (always ``CURSOR_BYTES`` long)."""
    seg, off = position
    body = f"{seg:020d} {off:020d}"
    return f"{body} {zlib.crc32(body.encode()):08x}\n".encode()


def read_cursor(text: bytes) -> Position | None:
    """The position a cursor file holds, or None when it is damaged.

    Accepts the older ``"<seg> <offset>"`` form (written by rename, never torn).
    """
    parts = text.split()
    try:
        if len(parts) == 2:
            return int(parts[0]), int(parts[1])
        if len(parts) == 3:
            body = parts[0] + b" " + parts[1]
            if int(parts[2], 16) == zlib.crc32(body):
                return int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return None
