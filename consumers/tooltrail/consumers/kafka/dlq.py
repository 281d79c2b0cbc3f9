"""The dead-letter topic: messages a group could not process, with the reason in headers.

A dead letter carries the original key and value and, next to the original headers, the
headers ``error``, ``group``, ``source-topic``, ``source-partition``, ``source-offset``
(``letters.py`` builds it: it always fits ``TOOLTRAIL_DLQ_MAX_BYTES``, whatever the record
held). ``send_dead_letters`` publishes a batch of them and never retries one forever:

* a letter the broker (or aiokafka) refuses *for what it is* — too large for a broker whose
  limit is lower than ours, a record it will not take — is sent again with the value cut to
  1 KiB, then as a minimal letter (our headers, the original sizes and counts, the refusal
  in ``letter-refused``); a record even that is refused for is returned in
  ``DeadLetterReport.unsendable`` for the runner to skip and count;
* anything else is raised as ``DeadLetterError``, whose ``retriable`` is true only when
  waiting can help: a timeout, a connection or leadership change, an error Kafka itself
  calls retriable. Authorization failures, an invalid topic and the like are not.

Letters are sent in slices of at most ``_SLICE_BYTES`` in flight; each slice must be
acknowledged within ``wait_s`` (a batch of many large letters makes progress, it does not
race one deadline).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from tooltrail.consumers.errors import DeadLetterError
from tooltrail.consumers.kafka.letters import (
    MAX_KEY_BYTES,
    MAX_ORIGINAL_HEADER_BYTES,
    OURS,
    Headers,
    Letter,
    as_bytes,
    build_letter,
    minimal_letter,
    shrunk_letter,
)
from tooltrail.schemas.base import first_line
from tooltrail.schemas.records import DeadLetter

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_ORIGINAL_HEADER_BYTES",
    "OURS",
    "DeadLetterReport",
    "Letter",
    "build_letter",
    "original_headers",
    "read_dead_letter",
    "send_dead_letters",
]
#: Refusals about the letter itself: a smaller letter may go through. aiokafka raises the
#: assertion, type and value errors on a record it cannot encode.
LETTER_REFUSED: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    PolicyViolationError,
    AssertionError,
    TypeError,
    ValueError,
    OverflowError,
)
_SLICE_BYTES = 8 * 1024 * 1024
_FULL, _SHRUNK, _MINIMAL = 0, 1, 2
Failure = tuple[Any, str]


@dataclass(slots=True)
class DeadLetterReport:
    """What ``send_dead_letters`` did with a batch of failures."""

    sent: int = 0  # letters acknowledged (reduced ones included)
    reduced: int = 0  # of them, letters sent shrunk or minimal after a refusal
    unsendable: list[Failure] = field(default_factory=list)  # (record, why): skip and count


@dataclass(slots=True)
class _Attempt:
    record: Any
    error: str
    level: int = _FULL
    refused: str = ""


async def send_dead_letters(
    producer: AIOKafkaProducer,
    topic: str,
    group: str,
    failures: Sequence[Failure],
    budget: int,
    wait_s: float,
) -> DeadLetterReport:
    """Publish each failed record with its reason; return once Kafka has acknowledged all.

    Raises:
        DeadLetterError: Kafka did not take the letters; ``retriable`` says whether waiting
            can help (see module docstring). Letters refused for what they are never raise.
    """
    report = DeadLetterReport()
    pending = [_Attempt(record, error) for record, error in failures]
    try:
        while pending:
            again: list[_Attempt] = []
            for part in _slices(pending, group, budget):
                async with asyncio.timeout(wait_s):
                    again += await _send_slice(producer, topic, part, report)
            pending = again
    except TimeoutError as exc:
        raise DeadLetterError(
            f"dead letters not acknowledged within {wait_s:.0f}s", retriable=True
        ) from exc
    except Exception as exc:  # every failure becomes a DeadLetterError
        raise DeadLetterError(
            f"dead letter refused: {_describe(exc)}", retriable=waiting_helps(exc)
        ) from exc
    return report


def waiting_helps(exc: BaseException) -> bool:
    """True if the same letter may be accepted later: a timeout, a connection or leader
    change, or an error Kafka marks retriable."""
    if isinstance(exc, KafkaTimeoutError | KafkaConnectionError | TimeoutError | OSError):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


def _slices(
    pending: list[_Attempt], group: str, budget: int
) -> list[list[tuple[_Attempt, Letter]]]:
    out: list[list[tuple[_Attempt, Letter]]] = [[]]
    size = 0
    for attempt in pending:
        letter = _letter(attempt, group, budget)
        if out[-1] and size + letter.size > _SLICE_BYTES:
            out.append([])
            size = 0
        out[-1].append((attempt, letter))
        size += letter.size
    return out


def _letter(attempt: _Attempt, group: str, budget: int) -> Letter:
    if attempt.level == _FULL:
        return build_letter(attempt.record, group, attempt.error, budget)
    if attempt.level == _SHRUNK:
        return shrunk_letter(attempt.record, group, attempt.error, budget)
    return minimal_letter(attempt.record, group, attempt.error, attempt.refused)


async def _send_slice(
    producer: AIOKafkaProducer,
    topic: str,
    part: list[tuple[_Attempt, Letter]],
    report: DeadLetterReport,
) -> list[_Attempt]:
    """Send one slice; return the attempts to make again smaller (refused for what they are)."""
    futures: list[Any] = []
    for _, letter in part:
        try:
            futures.append(
                await producer.send(topic, letter.value, key=letter.key, headers=letter.headers)
            )
        except LETTER_REFUSED as exc:
            futures.append(exc)
    results = await asyncio.gather(*(_outcome(f) for f in futures), return_exceptions=True)
    again: list[_Attempt] = []
    for (attempt, _), result in zip(part, results, strict=True):
        if result is None:
            report.sent += 1
            report.reduced += attempt.level > _FULL
        elif isinstance(result, LETTER_REFUSED) and attempt.level < _MINIMAL:
            refused = attempt.refused or _describe(result)
            again.append(_Attempt(attempt.record, attempt.error, attempt.level + 1, refused))
        elif isinstance(result, LETTER_REFUSED):
            report.unsendable.append(
                (attempt.record, f"no dead letter accepted: {_describe(result)}")
            )
        else:
            raise result
    return again


async def _outcome(future: Any) -> None:
    if isinstance(future, BaseException):
        raise future
    await future


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {first_line(str(exc), 200)}"


def read_dead_letter(record: Any, *, with_value: bool = True) -> DeadLetter:
    """The readable view of one message of the dead-letter topic (never raises for its content).

    ``truncated`` is true when the letter no longer holds the original message: its key or
    value was cut, or the original had neither (``value-null``); ``dlq replay`` skips those.
    """
    headers = {_name(k): (v or b"").decode(errors="replace") for k, v in record.headers or ()}
    value: bytes = as_bytes(record.value) or b""
    key = as_bytes(record.key)
    originals = {k: v for k, v in headers.items() if k not in OURS}
    return DeadLetter(
        source_topic=headers.get("source-topic", "?"),
        source_partition=_int(headers.get("source-partition")),
        source_offset=_int(headers.get("source-offset")),
        group=headers.get("group", "?"),
        error=headers.get("error", "?") or "?",
        failed_at=_time(record.timestamp),
        key=key.decode(errors="replace") if key else None,
        value_b64=base64.b64encode(value).decode() if with_value else "",
        size=_int(headers.get("value-truncated"), len(value)),
        key_size=_int(headers.get("key-truncated"), len(key or b"")),
        truncated=any(h in headers for h in ("value-truncated", "key-truncated", "value-null")),
        headers=originals,
    )


def original_headers(record: Any) -> Headers:
    """The headers the message had before it was dead-lettered (for a replay)."""
    out = []
    for name, value in record.headers or ():
        if name in OURS:
            continue
        bare = name.removeprefix("original-")
        out.append((bare if bare in OURS else name, value or b""))
    return out


def _name(name: Any) -> str:
    if isinstance(name, bytes):
        return name.decode(errors="replace")
    return str(name).encode("utf-8", "replace").decode()


def _time(stamp: Any) -> datetime:
    millis = stamp if isinstance(stamp, int) else 0
    return datetime.fromtimestamp(min(max(millis, 0), 253_402_300_799_000) / 1000, tz=UTC)


def _int(text: str | None, default: int = -1) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
