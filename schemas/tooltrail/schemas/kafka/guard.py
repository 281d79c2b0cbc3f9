"""The fetch guard: no record can break a fetch, no compressed batch can inflate unbounded.

aiokafka turns fetched batches into records inside ``getmany``, trusting them: a header
*name* that is not UTF-8 raises ``UnicodeDecodeError`` out of the fetch on every try (the
consumer never gets past it, and records read before it in that fetch are lost); a batch
with a bad CRC raises ``CorruptRecordException`` the same way; a compressed batch is inflated
whole before its first record is built, so 18 KB of gzip can hold gigabytes.

Every consumer built by ``schemas.kafka.clients`` is guarded (``guarded_keys`` marks it through
its key deserializer; aiokafka's fetcher is patched once, and runs unchanged for any consumer
not marked). For a guarded consumer each batch is checked before aiokafka reads it:

* a compressed batch is inflated within ``limit`` bytes (``batches.inflate``); one that would
  exceed it, or is corrupt, or fails its CRC, becomes an ``UnreadableRecord`` per offset whose
  ``reason`` says why (the first one's value is the batch as fetched: still compressed, the
  evidence, at most a fetch's size), and the consumer moves past it;
* a batch aiokafka cannot read (a header name that is not UTF-8, a malformed record) is read
  again by ``batches.read_records``: good records come out as aiokafka would give them, a
  record with a name that is not UTF-8 as an ``UnreadableRecord`` carrying its key, value
  and headers (names escaped), and the rest of a malformed batch as one ``UnreadableRecord``
  (the batch as its value).

So a record is never lost silently and never costs a neighbour: callers see each unreadable
one and deal with it (the groups dead-letter it). If the installed aiokafka lacks what the
patch needs, one warning is logged and consumers keep aiokafka's behaviour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka.structs import ConsumerRecord

from tooltrail.schemas.kafka.batches import (
    BatchHeader,
    BatchTooLarge,
    inflate,
    read_records,
    split_batches,
)

__all__ = ["DEFAULT_LIMIT", "UnreadableRecord", "guarded_keys", "install", "unreadable_reason"]
log = logging.getLogger(__name__)
DEFAULT_LIMIT = 64 * 1024 * 1024
_CODECS = {1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
_installed: list[bool] = []
_MAX_PLACEHOLDERS = 10_000  # per unreadable batch: more offsets than that become one record


@dataclass
class UnreadableRecord(ConsumerRecord[Any, Any]):  # type: ignore[misc]
    """A record the consumer could not read as it is; ``reason`` says why."""

    reason: str = ""


def unreadable_reason(record: Any) -> str | None:
    """Why ``record`` could not be read, or None for an ordinary record."""
    return record.reason if isinstance(record, UnreadableRecord) else None


class GuardedKeys:
    """The key deserializer that marks a consumer as guarded (and applies the caller's own)."""

    def __init__(self, inner: Callable[[Any], Any] | None, limit: int) -> None:
        self.inner = inner
        self.limit = limit

    def __call__(self, key: Any) -> Any:
        return key if self.inner is None else self.inner(key)


def guarded_keys(inner: Callable[[Any], Any] | None, limit: int = DEFAULT_LIMIT) -> GuardedKeys:
    """A key deserializer for a guarded consumer whose batches inflate within ``limit``."""
    return GuardedKeys(inner, limit)


class _RawRecords:
    """aiokafka's ``MemoryRecords`` for a fetch response, keeping its bytes for the guard."""

    def __init__(self, data: bytes, real: type) -> None:
        self.data = data
        self._real = real(data)

    def has_next(self) -> bool:
        return bool(self._real.has_next())

    def next_batch(self) -> Any:
        return self._real.next_batch()

    def size_in_bytes(self) -> int:
        return int(self._real.size_in_bytes())


def install() -> bool:
    """Patch aiokafka's fetcher once (see module docstring); True if consumers are guarded."""
    if _installed:
        return _installed[0]
    try:
        from aiokafka.consumer import fetcher
        from aiokafka.record._crecords.default_records import DefaultRecordBatch
    except ImportError as exc:  # pragma: no cover - another aiokafka layout
        return _skip(f"cannot import aiokafka's fetcher: {exc}")
    original, memory_records = (
        getattr(fetcher, "PartitionRecords", None),
        getattr(fetcher, "MemoryRecords", None),
    )
    if not isinstance(original, type) or not isinstance(memory_records, type):
        return _skip("aiokafka.consumer.fetcher has no PartitionRecords / MemoryRecords")
    if not all(hasattr(original, n) for n in ("_unpack_records", "_consumer_record")):
        return _skip("aiokafka's PartitionRecords reads records differently")
    guarded = _guarded_class(original, DefaultRecordBatch)

    def memory(data: Any) -> _RawRecords:
        return _RawRecords(bytes(data), memory_records)

    def partition_records(tp: Any, records: Any, *args: Any) -> Any:
        key_deserializer = args[2] if len(args) > 2 else None
        if isinstance(key_deserializer, GuardedKeys) and isinstance(records, _RawRecords):
            return guarded(tp, records, *args)
        if isinstance(records, _RawRecords):
            records = records._real
        return original(tp, records, *args)

    fetcher.MemoryRecords = memory
    fetcher.PartitionRecords = partition_records
    _installed.append(True)
    return True


def _skip(why: str) -> bool:
    log.warning("Kafka fetch guard not installed: %s; hostile records can break fetches", why)
    _installed.append(False)
    return False


def _guarded_class(original: type, c_batch: type) -> type:
    class GuardedPartitionRecords(original):  # type: ignore[misc]
        """aiokafka's ``PartitionRecords`` that checks each batch first (module docstring)."""

        next_fetch_offset: int

        def _unpack_records(self) -> Iterator[Any]:
            if self._isolation_level != 0:  # read_committed: aiokafka's own, unguarded
                yield from super()._unpack_records()
                return
            limit = self._key_deserializer.limit
            batches = list(split_batches(self._records.data))
            if any(header.magic != 2 for header, _ in batches):  # an old format: aiokafka's
                yield from super()._unpack_records()
                return
            for header, view in batches:
                if header.next_offset <= self.next_fetch_offset:
                    continue
                if header.is_control:
                    self.next_fetch_offset = header.next_offset
                    continue
                yield from self._batch(header, view, limit)
                self.next_fetch_offset = max(self.next_fetch_offset, header.next_offset)

        def _batch(self, header: BatchHeader, view: memoryview, limit: int) -> Iterator[Any]:
            why = _precheck(header, view, limit, c_batch, self._check_crcs)
            if why is not None:
                yield from self._unreadable_batch(header, view, why)
                return
            try:
                records = list(c_batch(bytes(view)))
            except Exception:  # noqa: BLE001 - read again below, record by record
                yield from self._tolerant(header, view, limit)
                return
            for record in records:  # the position moves before a record is handed out
                if record.offset >= self.next_fetch_offset:
                    built = self._consumer_record(self._tp, record)
                    self.next_fetch_offset = record.offset + 1
                    yield built

        def _unreadable_batch(
            self, header: BatchHeader, view: memoryview, why: str
        ) -> Iterator[UnreadableRecord]:
            """One unreadable record per offset of the batch (a batch whose offsets are not
            one run, or too many, as one): the first carries the batch as fetched."""
            first = max(header.base_offset, self.next_fetch_offset)
            if header.count != header.last_offset_delta + 1 or header.count > _MAX_PLACEHOLDERS:
                yield self._unreadable(first, None, bytes(view), [], why)
                self.next_fetch_offset = header.next_offset
                return
            base = header.base_offset
            for offset in range(first, header.next_offset):
                if offset == base:
                    yield self._unreadable(offset, None, bytes(view), [], why)
                else:  # an empty placeholder: what it held was never read
                    note = f" (not read; the batch is with offset {base})"
                    yield self._unreadable(offset, None, b"", [], why + note)

        def _tolerant(self, header: BatchHeader, view: memoryview, limit: int) -> Iterator[Any]:
            data = inflate(header, view, limit)
            offset = max(header.base_offset, self.next_fetch_offset)
            try:
                for parsed in read_records(header, data):
                    offset = parsed.offset + 1
                    if parsed.offset < self.next_fetch_offset:
                        continue
                    built = self._parsed(parsed)
                    self.next_fetch_offset = parsed.offset + 1
                    yield built
            except ValueError as exc:
                why = f"kafka: a malformed record batch: {exc}"
                yield self._unreadable(offset, None, bytes(view), [], why)

        def _parsed(self, parsed: Any) -> Any:
            names = []
            for name, _ in parsed.headers:
                try:
                    names.append(name.decode())
                except UnicodeDecodeError:
                    names.append(None)
            headers = [
                (n if n is not None else raw.decode(errors="backslashreplace"), v)
                for n, (raw, v) in zip(names, parsed.headers, strict=True)
            ]
            if None in names:
                bad = names.count(None)
                why = f"kafka: {bad} header name(s) of the record are not UTF-8"
                return self._unreadable(parsed.offset, parsed.key, parsed.value, headers, why)
            return ConsumerRecord(
                self._tp.topic,
                self._tp.partition,
                parsed.offset,
                parsed.timestamp,
                0,
                self._key_deserializer(parsed.key),
                parsed.value
                if self._value_deserializer is None
                else self._value_deserializer(parsed.value),
                None,
                -1 if parsed.key is None else len(parsed.key),
                -1 if parsed.value is None else len(parsed.value),
                tuple(headers),
            )

        def _unreadable(
            self, offset: int, key: Any, value: Any, headers: list[Any], why: str
        ) -> UnreadableRecord:
            self.next_fetch_offset = max(self.next_fetch_offset, offset + 1)
            tp = self._tp
            sizes = (-1 if key is None else len(key), -1 if value is None else len(value))
            return UnreadableRecord(
                tp.topic, tp.partition, offset, -1, 0, key, value, None, *sizes, tuple(headers), why
            )

    return GuardedPartitionRecords


def _precheck(
    header: BatchHeader, view: memoryview, limit: int, c_batch: type, check_crcs: bool
) -> str | None:
    """Why a batch cannot be read at all (its size inflated, its CRC, its codec), or None."""
    if check_crcs and not c_batch(bytes(view)).validate_crc():
        return "kafka: a record batch fails its CRC check"
    if header.codec == 0:
        return None
    codec = _CODECS.get(header.codec, f"codec {header.codec}")
    try:
        inflate(header, view, limit)
    except BatchTooLarge:
        return f"kafka: a {codec} batch of {header.count} records inflates beyond {limit} bytes"
    except (ValueError, ImportError) as exc:
        return f"kafka: a {codec} batch does not inflate: {exc}"
    return None
