"""The on-disk outbox: where events wait while Kafka is unreachable or the queue is full.

Segments ``seg-<n>.log`` hold framed records ``MAGIC | length | crc32 | payload`` where
payload is ``key length (2 bytes) | key | value``. Appends go to the newest segment and are
fsynced in batches (``sync``); reads start at a persisted cursor (``cursor`` file), so a
restart resends only what was not acknowledged. The total size is bounded: when an append
would exceed it, the oldest segment is dropped and its unread records are counted.
A torn or corrupt record (crash mid-write) is skipped by resynchronising on the next
``MAGIC``; it never stops a start. A directory that cannot be created or read makes the
outbox unusable (``unusable`` says why); the producer then uses a ``MemoryOutbox`` of the same
size bound instead. Files are created with mode 0600. Thread-safe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"TTR1"
_HEADER = struct.Struct(">4sII")
_KEYLEN = struct.Struct(">H")
_MAX_RECORD = 64 * 1024 * 1024


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


def parse(data: bytes, start: int = 0) -> Iterator[tuple[int, bytes | None, bytes, int]]:
    """Yield ``(offset, key, value, end)`` for each intact record; skip corrupt bytes."""
    pos = start
    while pos < len(data):
        if data[pos : pos + 4] != MAGIC:
            nxt = data.find(MAGIC, pos + 1)
            log.warning("outbox: skipping %d corrupt bytes", (nxt if nxt >= 0 else len(data)) - pos)
            if nxt < 0:
                return
            pos = nxt
            continue
        if pos + _HEADER.size > len(data):
            log.warning("outbox: skipping a torn record header at %d", pos)
            return
        _, length, crc = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        payload = data[pos + _HEADER.size : end]
        if length > _MAX_RECORD or end > len(data) or zlib.crc32(payload) != crc:
            log.warning("outbox: skipping a torn or corrupt record at %d", pos)
            nxt = data.find(MAGIC, pos + 1)
            if nxt < 0:
                return
            pos = nxt
            continue
        (klen,) = _KEYLEN.unpack_from(payload)
        key = payload[2 : 2 + klen] or None
        yield pos, key, payload[2 + klen :], end
        pos = end


class Outbox:
    """Append-only, bounded, crash-tolerant spill storage (see module docstring)."""

    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.dropped = 0
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._write_seg: int | None = None  # a restart never appends after a torn tail
        self._dirty = False
        self.unusable: str | None = None  # why the directory cannot be used (memory-only)
        self._segments: dict[int, int] = {}
        self._cursor, self._pending = (0, 0), 0
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._segments = {n: self._path(n).stat().st_size for n in self._scan()}
            self._cursor = self._load_cursor()
            self._pending = self._count_pending()
        except OSError as exc:
            self.unusable = f"{directory}: {exc.strerror or exc}"

    # --- state -------------------------------------------------------------------------------
    def _path(self, n: int) -> Path:
        return self.directory / f"seg-{n:012d}.log"

    def _scan(self) -> list[int]:
        found = []
        for path in self.directory.glob("seg-*.log"):
            try:
                found.append(int(path.stem.removeprefix("seg-")))
            except ValueError:
                log.warning("outbox: ignoring unexpected file %s", path.name)
        return sorted(found)

    def _load_cursor(self) -> tuple[int, int]:
        try:
            seg, off = (self.directory / "cursor").read_text().split()
            return int(seg), int(off)
        except (OSError, ValueError):
            return (min(self._segments, default=0), 0)

    def _save_cursor(self) -> None:
        tmp = self.directory / "cursor.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{self._cursor[0]} {self._cursor[1]}".encode())
        finally:
            os.close(fd)
        tmp.replace(self.directory / "cursor")

    def _count_pending(self) -> int:
        count = 0
        for n in self._segments:
            if n >= self._cursor[0]:
                start = self._cursor[1] if n == self._cursor[0] else 0
                count += sum(1 for _ in parse(self._path(n).read_bytes(), start))
        return count

    @property
    def pending(self) -> int:
        """Records written and not yet acknowledged."""
        return self._pending

    @property
    def size_bytes(self) -> int:
        """Bytes on disk across all segments."""
        return sum(self._segments.values())

    # --- writing -----------------------------------------------------------------------------
    def append(self, records: list[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
        """Append records (buffered by the OS; call ``sync`` to make them durable).

        Returns where each record ends (``(segment, end)``, as in ``OutboxRecord``).

        Raises:
            OSError: if the disk refuses the write (the caller counts the records dropped).
        """
        if self.unusable is not None:
            raise OSError(f"outbox unusable: {self.unusable}")
        frames = [frame(k, v) for k, v in records]
        data = b"".join(frames)
        with self._lock:
            self._make_room(len(data))
            seg = self._write_seg
            if (
                seg is None
                or seg not in self._segments
                or (self._segments[seg] + len(data) > self.segment_bytes)
            ):
                seg = self._rotate()
            if self._fd is None:
                self._fd = os.open(self._path(seg), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(self._fd, data)
            at = self._segments[seg]
            self._segments[seg] += len(data)
            self._pending += len(records)
            self._dirty = True
        ends = []
        for f in frames:
            at += len(f)
            ends.append((seg, at))
        return ends

    def _rotate(self) -> int:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        newest = max(self._segments, default=self._cursor[0] - 1) + 1
        self._segments[newest] = 0
        os.close(os.open(self._path(newest), os.O_WRONLY | os.O_CREAT, 0o600))
        self._write_seg = newest
        return newest

    def _make_room(self, incoming: int) -> None:
        while self._segments and self.size_bytes + incoming > self.max_bytes:
            oldest = min(self._segments)
            if oldest == self._write_seg:
                self._rotate()  # never drop the segment being written into
            start = self._cursor[1] if oldest == self._cursor[0] else 0
            lost = sum(1 for _ in parse(self._path(oldest).read_bytes(), start))
            self._path(oldest).unlink(missing_ok=True)
            del self._segments[oldest]
            self.dropped += lost
            self._pending -= lost
            if self._cursor[0] <= oldest:
                self._cursor = (min(self._segments, default=oldest + 1), 0)
                self._save_cursor()

    def sync(self) -> None:
        """fsync the segment being written, if anything was appended since the last sync."""
        with self._lock:
            if self._fd is not None and self._dirty:
                os.fsync(self._fd)
                self._dirty = False

    # --- reading -----------------------------------------------------------------------------
    def peek(self, limit: int) -> list[OutboxRecord]:
        """Return up to ``limit`` unacknowledged records, oldest first, without removing them."""
        with self._lock:
            out: list[OutboxRecord] = []
            for n in sorted(self._segments):
                if n < self._cursor[0]:
                    continue
                start = self._cursor[1] if n == self._cursor[0] else 0
                with self._path(n).open("rb") as f:  # from the cursor, not the segment's start
                    f.seek(start)
                    data = f.read()
                for _, key, value, end in parse(data):
                    out.append(OutboxRecord(key, value, n, start + end))
                    if len(out) >= limit:
                        return out
            return out

    def ack(self, last: OutboxRecord, count: int) -> None:
        """Acknowledge everything up to and including ``last`` (``count`` records)."""
        with self._lock:
            self._pending = max(self._pending - count, 0)
            self._cursor = (last.segment, last.end)
            for n in [n for n in self._segments if n < last.segment]:
                self._path(n).unlink(missing_ok=True)
                del self._segments[n]
            if last.end >= self._segments.get(last.segment, 0):  # segment fully sent
                if last.segment == self._write_seg and self._fd is not None:
                    os.close(self._fd)
                    self._fd, self._write_seg = None, None
                self._path(last.segment).unlink(missing_ok=True)
                self._segments.pop(last.segment, None)
                self._cursor = (last.segment + 1, 0)
            self._save_cursor()

    def close(self) -> None:
        """fsync and close the open segment. Idempotent; never raises (a failing disk is
        logged: what it did not keep is lost either way)."""
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                os.fsync(fd)
            except OSError as exc:
                log.warning("outbox: fsync at close failed: %s", exc)
            finally:
                with contextlib.suppress(OSError):
                    os.close(fd)


class MemoryOutbox:
    """The outbox's stand-in when its directory is unusable: the same interface, in memory.

    Bounded by the same ``max_bytes`` (the oldest records are dropped and counted); lost
    when the process ends. ``unusable`` keeps the reason the directory could not be used.
    """

    def __init__(self, max_bytes: int, unusable: str) -> None:
        self.max_bytes = max_bytes
        self.unusable: str | None = unusable
        self.dropped = 0
        self._lock = threading.Lock()
        self._records: dict[int, tuple[bytes | None, bytes]] = {}  # position -> record
        self._next = 1  # position of the next record (a record's "end")
        self._first = 1  # oldest position still held
        self._bytes = 0

    @property
    def pending(self) -> int:
        """Records held and not yet acknowledged."""
        return len(self._records)

    @property
    def size_bytes(self) -> int:
        """Bytes held."""
        return self._bytes

    def append(self, records: list[tuple[bytes | None, bytes]]) -> list[tuple[int, int]]:
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
                        self.dropped += 1
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


#: Either outbox: on disk, or in memory when the directory is unusable.
AnyOutbox = Outbox | MemoryOutbox
