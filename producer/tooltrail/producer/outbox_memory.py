"""The outbox's stand-in when its directory is unusable: the same interface, in memory."""

from __future__ import annotations

import threading
from collections import Counter

from tooltrail.producer.outbox_format import OutboxRecord, Position


class MemoryOutbox:
    """The outbox's stand-in when its directory is unusable: the same interface, in memory.

    Bounded by the same ``max_bytes`` (the oldest records are dropped and counted); lost
    when the process ends. ``unusable`` keeps the reason the directory could not be used.
    """

    def __init__(self, max_bytes: int, unusable: str) -> None:
        self.max_bytes = max_bytes
        self.unusable: str | None = unusable
        self.drops: Counter[str] = Counter()
        self.drop_error: str | None = None  # never set: memory has no disk errors
        self.inherited = 0
        self._lock = threading.Lock()
        self._records: dict[int, tuple[bytes | None, bytes]] = {}  # position -> record
        self._next = 1  # position of the next record (a record's "end")
        self._first = 1  # oldest position still held
        self._bytes = 0

    @property
    def dropped(self) -> int:
        """Records dropped by the size bound (``drops`` has every reason)."""
        return self.drops["outbox_full"]

    @property
    def pending(self) -> int:
        """Records held and not yet acknowledged."""
        return len(self._records)

    @property
    def size_bytes(self) -> int:
        """Bytes held."""
        return self._bytes

    def append(self, records: list[tuple[bytes | None, bytes]]) -> list[Position]:
        """Keep records; return their positions. Never raises."""
        ends = []
        with self._lock:
            for key, value in records:
                size = len(value) + len(key or b"")
                while self._records and self._bytes + size > self.max_bytes:
                    old = self._records.pop(self._first, None)
                    self._first += 1
                    if old is not None:
                        self._bytes -= len(old[1]) + len(old[0] or b"")
                        self.drops["outbox_full"] += 1
                self._records[self._next] = (key, value)
                self._bytes += size
                ends.append((0, self._next))
                self._next += 1
        return ends

    def peek(self, limit: int) -> list[OutboxRecord]:
        """Up to ``limit`` records, oldest first."""
        with self._lock:
            out = []
            for pos in range(self._first, self._next):
                rec = self._records.get(pos)
                if rec is not None:
                    out.append(OutboxRecord(rec[0], rec[1], 0, pos))
                    if len(out) >= limit:
                        break
            return out

    def ack(self, last: OutboxRecord, count: int) -> None:
        """Forget everything up to and including ``last``."""
        with self._lock:
            for pos in range(self._first, last.end + 1):
                rec = self._records.pop(pos, None)
                if rec is not None:
                    self._bytes -= len(rec[1]) + len(rec[0] or b"")
            self._first = max(self._first, last.end + 1)

    def sync(self) -> None:
        """Nothing to make durable."""

    def close(self) -> None:
        """Nothing to close."""

    def holds(self, position: Position | None) -> bool:
        """True while the record at ``position`` is held and not acknowledged."""
        return position is not None and position[1] in self._records

    def give_back(self) -> None:
        """Nothing is lent: records stay until acknowledged."""

    def adopt_orphans(self) -> int:
        """No other process's records to adopt in memory."""
        return 0
