"""The dead-letter topic: messages a group could not process, with the reason in headers.

A dead letter carries the original key and value and, next to the original headers, the
headers ``error``, ``group``, ``source-topic``, ``source-partition``, ``source-offset``. It
always fits: the whole letter stays under ``TOOLTRAIL_DLQ_MAX_BYTES`` — original headers
beyond 16 KiB (or a quarter of the budget) are dropped (``headers-dropped``), a key over
4 KiB (or a quarter of the budget) and then the value are cut (``key-truncated`` /
``value-truncated`` hold the original sizes). An original header whose
name clashes with ours is kept as ``original-<name>``. If the broker still refuses a letter
as too large (its own limit may be lower), the letter is sent again with only the first KiB
of the value; any other refusal is an error the runner retries (nothing is committed past it).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.structs import ConsumerRecord

from tooltrail.consumers.errors import DeadLetterError
from tooltrail.schemas.records import DeadLetter

OURS = (
    "error",
    "group",
    "source-topic",
    "source-partition",
    "source-offset",
    "key-truncated",
    "value-truncated",
    "headers-dropped",
)
MAX_KEY_BYTES = 4096
MAX_ORIGINAL_HEADER_BYTES = 16_384
_RECORD_OVERHEAD = 512  # record framing, our own header names and values
_FALLBACK_VALUE_BYTES = 1024
Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter ready to send."""

    key: bytes | None
    value: bytes | None
    headers: Headers


def build_letter(
    record: ConsumerRecord[Any, Any],
    group: str,
    error: str,
    budget: int,
    value_limit: int | None = None,
) -> Letter:
    """The dead letter of ``record``, at most ``budget`` bytes all told (see module docstring)."""
    headers: Headers = [
        ("error", error.encode()[:1000]),
        ("group", group.encode()[:255]),
        ("source-topic", str(record.topic).encode()[:255]),
        ("source-partition", str(record.partition).encode()),
        ("source-offset", str(record.offset).encode()),
    ]
    originals = [(f"original-{k}" if k in OURS else k, v or b"") for k, v in record.headers or ()]
    size = sum(len(k) + len(v) for k, v in originals)
    if size > min(MAX_ORIGINAL_HEADER_BYTES, budget // 4):
        headers.append(("headers-dropped", str(len(originals)).encode()))
        originals, size = [], 0
    key: bytes | None = record.key
    key_limit = min(MAX_KEY_BYTES, budget // 4)
    if key is not None and len(key) > key_limit:
        headers.append(("key-truncated", str(len(key)).encode()))
        key = key[:key_limit]
    value: bytes | None = record.value
    ours = sum(len(k) + len(v) for k, v in headers) + 40  # and a value-truncated header
    room = budget - _RECORD_OVERHEAD - size - len(key or b"") - ours
    limit = max(min(room, value_limit if value_limit is not None else room), 0)
    if value is not None and len(value) > limit:
        headers.append(("value-truncated", str(len(value)).encode()))
        value = value[:limit]
    return Letter(key, value, originals + headers)


async def send_dead_letters(
    producer: AIOKafkaProducer,
    topic: str,
    group: str,
    failures: Sequence[tuple[ConsumerRecord[Any, Any], str]],
    budget: int,
    wait_s: float,
) -> None:
    """Publish each failed record with its reason; return once Kafka has acknowledged all.

    Raises:
        DeadLetterError: a letter was refused (``retriable`` says whether to retry).
    """
    try:
        async with asyncio.timeout(wait_s):
            for record, error in failures:
                letter = build_letter(record, group, error, budget)
                try:
                    await _send(producer, topic, letter)
                except (MessageSizeTooLargeError, RecordTooLargeError):
                    small = build_letter(record, group, error, budget, _FALLBACK_VALUE_BYTES)
                    await _send(producer, topic, small)
    except TimeoutError as exc:
        raise DeadLetterError(
            f"dead letters not acknowledged within {wait_s:.0f}s", retriable=True
        ) from exc
    except KafkaError as exc:
        retriable = bool(getattr(exc, "retriable", False))
        raise DeadLetterError(
            f"dead letter refused: {type(exc).__name__}: {exc}", retriable=retriable
        ) from exc


async def _send(producer: AIOKafkaProducer, topic: str, letter: Letter) -> None:
    future = await producer.send(topic, letter.value, key=letter.key, headers=letter.headers)
    await future


def read_dead_letter(record: ConsumerRecord[Any, Any], *, with_value: bool = True) -> DeadLetter:
    """The readable view of one message of the dead-letter topic."""
    headers = {k: (v or b"").decode(errors="replace") for k, v in (record.headers or ())}
    value: bytes = record.value or b""
    originals = {k: v for k, v in headers.items() if k not in OURS}
    return DeadLetter(
        source_topic=headers.get("source-topic", "?"),
        source_partition=_int(headers.get("source-partition")),
        source_offset=_int(headers.get("source-offset")),
        group=headers.get("group", "?"),
        error=headers.get("error", "?") or "?",
        failed_at=datetime.fromtimestamp(max(record.timestamp, 0) / 1000, tz=UTC),
        key=record.key.decode(errors="replace") if record.key else None,
        value_b64=base64.b64encode(value).decode() if with_value else "",
        size=_int(headers.get("value-truncated"), len(value)),
        key_size=_int(headers.get("key-truncated"), len(record.key or b"")),
        truncated="value-truncated" in headers or "key-truncated" in headers,
        headers=originals,
    )


def original_headers(record: ConsumerRecord[Any, Any]) -> Headers:
    """The headers the message had before it was dead-lettered (for a replay)."""
    out = []
    for name, value in record.headers or ():
        if name in OURS:
            continue
        bare = name.removeprefix("original-")
        out.append((bare if bare in OURS else name, value or b""))
    return out


def _int(text: str | None, default: int = -1) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
