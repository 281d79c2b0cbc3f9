"""Topics, partitions and their logs of record batches, as a Kafka broker keeps them."""

from __future__ import annotations

import bisect
import time
import uuid
from dataclasses import dataclass, field

from aiokafka.errors import CorruptRecordException

from tooltrail.schemas.kafka.batches import (
    BatchTooLarge,
    inflate,
    read_header,
    read_records,
    set_base_offset,
)


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """One batch in a partition's log: its bytes (base offset set) and where it ends."""

    base_offset: int
    next_offset: int
    data: bytes
    max_timestamp: int
    append_time: int


class PartitionLog:
    """The batches of one partition, in offset order."""

    def __init__(self) -> None:
        self.batches: list[StoredBatch] = []
        self._ends: list[int] = []  # next_offset of each batch, for bisecting
        self.end = 0  # the high watermark: the offset the next record gets

    def append(self, batch: bytes) -> int:
        """Store one v2 batch; return the offset its first record got.

        Raises:
            CorruptRecordException: the bytes are not one whole v2 batch.
        """
        header = read_header(batch)
        if header is None or header.size != len(batch) or header.magic != 2:
            raise CorruptRecordException("not one whole record batch of message format v2")
        base = self.end
        stored = StoredBatch(
            base,
            base + header.last_offset_delta + 1,
            set_base_offset(bytes(batch), base),
            header.max_timestamp,
            int(time.time() * 1000),
        )
        self.batches.append(stored)
        self._ends.append(stored.next_offset)
        self.end = stored.next_offset
        return base

    def read(self, offset: int, max_bytes: int) -> bytes:
        """The batches from the one holding ``offset``, up to ``max_bytes`` (at least one)."""
        first = bisect.bisect_right(self._ends, offset)
        out: list[bytes] = []
        size = 0
        for stored in self.batches[first:]:
            if out and size + len(stored.data) > max_bytes:
                break
            out.append(stored.data)
            size += len(stored.data)
        return b"".join(out)

    def offset_for_time(self, timestamp_ms: int) -> tuple[int, int] | None:
        """The first record stamped at or after ``timestamp_ms`` (offset, its time), as Kafka."""
        for stored in self.batches:
            if stored.max_timestamp < timestamp_ms:
                continue
            header = read_header(stored.data)
            if header is None:
                continue
            try:
                records = inflate(header, stored.data, 256 * 1024 * 1024)
                for record in read_records(header, records):
                    if record.timestamp >= timestamp_ms:
                        return record.offset, record.timestamp
            except (BatchTooLarge, ValueError):
                return stored.base_offset, stored.max_timestamp
        return None


@dataclass
class Topic:
    """A topic: its partitions, configs and id (new on every creation)."""

    name: str
    partitions: list[PartitionLog]
    configs: dict[str, str] = field(default_factory=dict)
    id: bytes = field(default_factory=lambda: uuid.uuid4().bytes)

    @classmethod
    def create(cls, name: str, partitions: int, configs: dict[str, str] | None = None) -> Topic:
        """A new, empty topic."""
        return cls(name, [PartitionLog() for _ in range(partitions)], dict(configs or {}))
