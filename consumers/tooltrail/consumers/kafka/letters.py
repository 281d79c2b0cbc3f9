"""Building a dead letter that always fits, whatever the record held.

A letter carries the original key, value and headers and our own headers (``OURS``): the
reason, the group, where the record came from, and what had to change. ``build_letter``
never raises and the letter it returns is always accepted by aiokafka's producer and within
``budget`` bytes as the producer measures it (``estimate_size_in_bytes``, the figure it
compares with ``max_request_size``):

* a record with neither key nor value (aiokafka refuses to send that) gets an empty value
  and ``value-null: 1``;
* original headers are measured with their framing (a varint length per name and value:
  550,000 empty headers are 1.1 MB): past 16 KiB or a quarter of the budget they are all
  dropped and ``headers-dropped`` holds their count; a name that is not UTF-8 (or not text)
  becomes ``undecodable-name-<hex of its first 32 bytes>`` and ``headers-renamed`` counts
  them; a name that clashes with ours is kept as ``original-<name>``;
* a key over 4 KiB (or a quarter of the budget) and then the value are cut
  (``key-truncated`` / ``value-truncated`` hold the original sizes);
* the reason is cut to 1,000 bytes on a character boundary.

``shrunk_letter`` (value cut to 1 KiB) and ``minimal_letter`` (our headers and the counts
only) are the smaller letters sent when the broker refuses a letter for good.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from tooltrail.schemas.base import clip_utf8

OURS = (
    "error",
    "group",
    "source-topic",
    "source-partition",
    "source-offset",
    "key-truncated",
    "value-truncated",
    "value-null",
    "headers-dropped",
    "headers-renamed",
    "letter-refused",
)
MAX_ERROR_BYTES = 1000
MAX_KEY_BYTES = 4096
MAX_ORIGINAL_HEADER_BYTES = 16_384
SHRUNK_VALUE_BYTES = 1024
_NAME_HEX_BYTES = 32
Header = tuple[str, bytes | None]
Headers = list[Header]


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter ready to send."""

    key: bytes | None
    value: bytes | None
    headers: Headers

    @property
    def size(self) -> int:
        """What aiokafka's producer compares with ``max_request_size`` before sending."""
        return int(
            DefaultRecordBatchBuilder.estimate_size_in_bytes(self.key, self.value, self.headers)
        )


def build_letter(
    record: Any, group: str, error: str, budget: int, value_limit: int | None = None
) -> Letter:
    """The dead letter of ``record``, at most ``budget`` bytes all told (see module docstring)."""
    ours = _our_headers(record, group, error)
    try:
        originals, renamed, count = _original_headers(
            getattr(record, "headers", None), min(MAX_ORIGINAL_HEADER_BYTES, budget // 4)
        )
    except Exception:  # noqa: BLE001 - headers that cannot even be iterated are dropped
        originals, renamed, count = None, 0, -1
    if originals is None:
        ours.append(("headers-dropped", str(count).encode()))
        originals = []
    elif renamed:
        ours.append(("headers-renamed", str(renamed).encode()))
    key, value = as_bytes(getattr(record, "key", None)), as_bytes(getattr(record, "value", None))
    key_limit = min(MAX_KEY_BYTES, budget // 4)
    if key is not None and len(key) > key_limit:
        ours.append(("key-truncated", str(len(key)).encode()))
        key = key[:key_limit]
    if key is None and value is None:
        ours.append(("value-null", b"1"))
        value = b""
    headers = originals + ours
    if value is not None:
        room = _value_room(key, headers, budget)
        limit = room if value_limit is None else min(value_limit, room)
        if len(value) > limit:
            headers.append(("value-truncated", str(len(value)).encode()))
            value = value[: max(min(limit, _value_room(key, headers, budget)), 0)]
    return Letter(key, value, headers)


def shrunk_letter(record: Any, group: str, error: str, budget: int) -> Letter:
    """The letter with the value cut to ``SHRUNK_VALUE_BYTES`` (sent after a size refusal)."""
    return build_letter(record, group, error, budget, SHRUNK_VALUE_BYTES)


def minimal_letter(record: Any, group: str, error: str, refused: str) -> Letter:
    """Our headers, the counts and why fuller letters were refused; no key, no value."""
    headers: Headers = _our_headers(record, group, error)
    key, value = as_bytes(getattr(record, "key", None)), as_bytes(getattr(record, "value", None))
    raw_headers = getattr(record, "headers", None)
    count = _count(raw_headers)
    if count:
        headers.append(("headers-dropped", str(count).encode()))
    if key is not None:
        headers.append(("key-truncated", str(len(key)).encode()))
    if value is None:
        headers.append(("value-null", b"1"))
    else:
        headers.append(("value-truncated", str(len(value)).encode()))
    headers.append(("letter-refused", clip_utf8(_text(refused), 200).encode()))
    return Letter(None, b"", headers)


def as_bytes(data: Any) -> bytes | None:
    """A key or value as bytes (None stays None; text is UTF-8; anything else its repr)."""
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8", "surrogateescape")
    return repr(data).encode("utf-8", "replace")


def _our_headers(record: Any, group: str, error: str) -> Headers:
    return [
        ("error", clip_utf8(_text(error), MAX_ERROR_BYTES).encode()),
        ("group", clip_utf8(_text(group), 255).encode()),
        ("source-topic", clip_utf8(_text(getattr(record, "topic", "?")), 255).encode()),
        ("source-partition", _number(getattr(record, "partition", None))),
        ("source-offset", _number(getattr(record, "offset", None))),
    ]


def _original_headers(raw: Any, limit: int) -> tuple[Headers | None, int, int]:
    """(headers to keep or None if over ``limit`` framed bytes, how many renamed, count)."""
    kept: Headers = []
    renamed = size = 0
    for item in _items(raw):
        name, value, was_renamed = _header(item)
        name = f"original-{name}" if name in OURS else name
        renamed += was_renamed
        size += _framed(name.encode()) + (1 if value is None else _framed(value))
        if size > limit:
            return None, 0, _count(raw)
        kept.append((name, value))
    return kept, renamed, len(kept)


def _header(item: Any) -> tuple[str, bytes | None, bool]:
    """(name, value, renamed) of one original header, whatever its shape."""
    try:
        name, value = item
    except (TypeError, ValueError):
        return "undecodable-header", as_bytes(item), True
    if isinstance(name, bytes | bytearray | memoryview):
        raw = bytes(name)
    elif isinstance(name, str):
        raw = name.encode("utf-8", "surrogateescape")
    else:
        raw = repr(name).encode("utf-8", "replace")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"undecodable-name-{raw[:_NAME_HEX_BYTES].hex()}", as_bytes(value), True
    return text, as_bytes(value), not isinstance(name, str | bytes | bytearray | memoryview)


def _items(raw: Any) -> Iterable[Any]:
    if raw is None:
        return ()
    try:
        items: Iterable[Any] = iter(raw)
    except TypeError:
        return ()
    return items


def _count(raw: Any) -> int:
    try:
        return len(raw) if raw is not None else 0
    except TypeError:
        return sum(1 for _ in _items(raw))


def _framed(data: bytes) -> int:
    """Bytes of ``data`` on the wire with its varint length (Kafka's record format v2)."""
    n, zigzag = len(data), len(data) << 1
    return n + max((zigzag.bit_length() + 6) // 7, 1)


def _value_room(key: bytes | None, headers: Headers, budget: int) -> int:
    empty = int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, b"", headers))
    return budget - empty - 4  # the value's own varint length grows up to 4 bytes


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "replace").decode("utf-8")


def _number(value: Any) -> bytes:
    return str(value).encode() if isinstance(value, int) else b"-1"
