"""The on-disk outbox: where events wait while Kafka is unreachable or the queue is full.

Segments ``seg-<n>.log`` hold framed records (``outbox_format``); appends go to the newest
segment and are fsynced in batches (``sync``); reads start at a persisted cursor, so a
restart resends only what was not acknowledged. What is counted comes from the disk: an
append writes every byte or truncates back and raises, and the index of whole records
(``outbox_segments``) is extended only after it succeeded.

**Full-outbox policy** (the same whether the size bound or the disk is full): the oldest
segment is dropped and its unsent records counted (``drops["outbox_full"]`` for the bound,
``drops["disk_full"]`` for ENOSPC), so the newest events are kept. An append that still
cannot be written (nothing older left to drop) raises; the sender counts it dropped.

**One writer per directory** (``outbox_lock``): the process locks the directory, or a
``proc-*`` subdirectory of its own when another live process holds it, and adopts the
directories of dead ones (``adopt_orphans``). A directory that is not a private directory of
this user is refused (``refused`` says why); the producer then keeps spills in memory
(``MemoryOutbox``). Files are 0600, opened without following symlinks. Thread-safe.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from bisect import bisect_left
from collections import Counter
from pathlib import Path

from tooltrail.producer import outbox_files as files
from tooltrail.producer.outbox_adopt import adopt
from tooltrail.producer.outbox_cursor import CursorFile
from tooltrail.producer.outbox_format import OutboxRecord, Position, frame, parse
from tooltrail.producer.outbox_lock import DirLock, claim, orphans
from tooltrail.producer.outbox_memory import MemoryOutbox
from tooltrail.producer.outbox_segments import Segment, index, load_cursor, read_records, scan
from tooltrail.producer.outbox_segments import segment_path as _segment_path

log = logging.getLogger(__name__)
__all__ = ["AnyOutbox", "MemoryOutbox", "Outbox", "OutboxRecord", "frame", "parse"]


class Outbox:
    """Append-only, bounded, crash-tolerant spill storage (see module docstring)."""

    def __init__(
        self, directory: Path, max_bytes: int, segment_bytes: int, write: files.Write | None = None
    ) -> None:
        self.root = self.directory = Path(directory)
        self.max_bytes, self.segment_bytes = max_bytes, segment_bytes
        self.drops: Counter[str] = Counter()  # records lost, by reason
        self.drop_error: str | None = None  # the last disk error that cost records
        self.inherited = 0  # records found at start or adopted from dead processes
        self.refused: str | None = None  # why the directory cannot be used at all
        self.failing: str | None = None  # the last append's error, until one succeeds
        self._write = write
        self._lock = threading.RLock()
        self._fd: int | None = None
        self._write_seg: int | None = None  # a restart never appends after a torn tail
        self._dirty = self._closed = False
        self._segs: dict[int, Segment] = {}
        self._cursor: Position = (0, 0)
        self._lent: Position | None = None  # end of what the last peek handed out
        self._pending = 0
        self._cursor_file: CursorFile | None = None
        self._dirlock: DirLock | None = None
        try:
            self._dirlock = claim(self.root)
            self.directory = self._dirlock.directory
            self._segs = {n: index(self._path(n)) for n in scan(self.directory)}
            self._cursor = load_cursor(self.directory, min(self._segs, default=0))
            self._cursor_file = CursorFile(self.directory)
            self._save_cursor()
            self._recount()
            self.inherited = self._pending
            self.adopt_orphans()
        except OSError as exc:
            self.refused = f"{directory}: {exc.strerror or exc}"
            if self._dirlock is not None:
                self._dirlock.release()

    # --- state -------------------------------------------------------------------------------
    def _path(self, n: int) -> Path:
        return _segment_path(self.directory, n)

    @property
    def unusable(self) -> str | None:
        """Why the outbox cannot keep events now (refused directory, failing disk), or None."""
        return self.refused or self.failing

    @property
    def dropped(self) -> int:
        """Records dropped by the size bound (``drops`` has every reason)."""
        return self.drops["outbox_full"]

    @property
    def pending(self) -> int:
        """Whole records on disk, not yet acknowledged."""
        return self._pending

    @property
    def size_bytes(self) -> int:
        """Bytes on disk across all segments."""
        return sum(s.size for s in list(self._segs.values()))

    def _recount(self) -> None:
        c_seg, c_off = self._cursor
        self._pending = sum(
            s.after(c_off) if n == c_seg else len(s.ends)
            for n, s in self._segs.items()
            if n >= c_seg
        )

    def holds(self, position: Position | None) -> bool:
        """True while the record ending at ``position`` is on disk and not acknowledged."""
        with self._lock:
            seg = self._segs.get(position[0]) if position is not None else None
            if position is None or seg is None or position <= self._cursor:
                return False
            at = bisect_left(seg.ends, position[1])
            return at < len(seg.ends) and seg.ends[at] == position[1]

    # --- writing -----------------------------------------------------------------------------
    def append(self, records: list[tuple[bytes | None, bytes]]) -> list[Position]:
        """Append all of ``records`` or none (buffered by the OS; ``sync`` makes them durable).

        Returns where each record ends. On a full disk the oldest segments are dropped
        (counted) to make room for these, the newest.

        Raises:
            OSError: the records could not be written (the caller counts them dropped).
        """
        frames = [frame(k, v) for k, v in records]
        with self._lock:
            if self.refused is not None or self._closed:
                raise OSError(errno.EBADF, f"outbox unusable: {self.refused or 'closed'}")
            return self._append_frames(frames)

    def _append_frames(self, frames: list[bytes]) -> list[Position]:
        data = b"".join(frames)
        self._make_room(len(data), "outbox_full")
        while True:
            try:
                seg, at = self._append_bytes(data)
                break
            except OSError as exc:
                if exc.errno in files.NO_SPACE and self._evict_oldest("disk_full", exc):
                    continue
                self.failing = f"{files.errno_name(exc)}: {exc.strerror or exc}"
                raise
        self.failing = None
        ends = []
        for f in frames:
            at += len(f)
            ends.append(at)
        segment = self._segs[seg]
        segment.ends.extend(ends)
        segment.size = at
        self._dirty = True
        self._pending += len(frames)
        return [(seg, end) for end in ends]

    def _append_bytes(self, data: bytes) -> tuple[int, int]:
        seg = self._write_seg
        current = self._segs.get(seg) if seg is not None else None
        if current is None or (current.size and current.size + len(data) > self.segment_bytes):
            seg = self._rotate()
            current = self._segs[seg]
        fd = self._fd
        if fd is None or seg is None:  # _rotate opened it; a cheap guard for the type checker
            raise OSError(errno.EBADF, "no segment open for writing")
        try:
            files.write_all(fd, data, current.size, self._write or files.raw_write)
        except OSError as exc:
            if not getattr(exc, "truncated", True):  # a torn tail stays: never append after it
                with contextlib.suppress(OSError):
                    current.size = os.fstat(fd).st_size
                self._close_write()
            raise
        return seg, current.size

    def _rotate(self) -> int:
        self._close_write()
        n = max(max(self._segs, default=-1) + 1, self._cursor[0])
        for _ in range(64):  # a name taken by a file we did not index is skipped
            try:
                self._fd = files.open_new(self._path(n), os.O_WRONLY | os.O_APPEND)
                break
            except FileExistsError:
                n += 1
        else:
            raise OSError(errno.EEXIST, "no free segment name", str(self.directory))
        self._segs[n] = Segment()
        self._write_seg = n
        return n

    def _close_write(self) -> None:
        fd, self._fd, self._write_seg = self._fd, None, None
        if fd is None:
            return
        try:
            os.fsync(fd)
        except OSError as exc:
            log.warning("outbox: fsync failed (%s): %s", files.errno_name(exc), exc)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _make_room(self, incoming: int, reason: str) -> None:
        while self.size_bytes + incoming > self.max_bytes and self._evict_oldest(reason):
            pass

    def _evict_oldest(self, reason: str, exc: OSError | None = None) -> bool:
        """Drop the oldest segment holding bytes (counting its unsent records); False if none."""
        full = [n for n, s in self._segs.items() if s.size]
        if not full:
            return False
        self._drop_segment(min(full), reason, exc)
        return True

    def _drop_segment(self, n: int, reason: str, exc: OSError | None) -> None:
        start = max(self._cursor, self._lent or self._cursor)  # lent records are in a flight
        seg = self._segs[n]
        lost = 0 if n < start[0] else seg.after(start[1]) if n == start[0] else len(seg.ends)
        self._remove(n)
        if self._cursor[0] <= n:  # never back: segments below the cursor are sent ones
            self._cursor = (min((m for m in self._segs if m > n), default=n + 1), 0)
            self._save_cursor()
        self.drops[reason] += lost
        self._recount()
        why = ""
        if exc is not None:
            why = f" ({files.errno_name(exc)})"
            self.drop_error = f"{files.errno_name(exc)}: {exc.strerror or exc}"
        log.warning("outbox: dropped %d events of segment %d: %s%s", lost, n, reason, why)

    def _remove(self, n: int) -> None:
        if n == self._write_seg:
            self._close_write()
        self._segs.pop(n, None)
        try:
            self._path(n).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("outbox: could not remove %s: %s", self._path(n).name, exc)

    def sync(self) -> None:
        """fsync the segment being written, if anything was appended since the last sync."""
        with self._lock:
            if self._fd is not None and self._dirty:
                os.fsync(self._fd)
                self._dirty = False

    # --- reading -----------------------------------------------------------------------------
    def peek(self, limit: int) -> list[OutboxRecord]:
        """Up to ``limit`` unacknowledged records, oldest first; they stay until ``ack``."""
        with self._lock:
            out: list[OutboxRecord] = []
            c_seg, c_off = self._cursor
            for n in sorted(n for n in self._segs if n >= c_seg):
                start = c_off if n == c_seg else 0
                try:
                    found = read_records(self._path(n), self._segs[n], start, limit - len(out))
                except OSError as exc:  # unreadable: its records are lost, and counted
                    self._drop_segment(n, "outbox_error", exc)
                    continue
                out += [OutboxRecord(key, value, n, end) for key, value, end in found]
                if len(out) >= limit:
                    break
            self._lent = (out[-1].segment, out[-1].end) if out else None
            return out

    def give_back(self) -> None:
        """The records of the last ``peek`` were not sent: they stay pending, unlent."""
        with self._lock:
            self._lent = None

    def ack(self, last: OutboxRecord, count: int) -> None:
        """Acknowledge everything up to and including ``last``. Never raises (a cursor that
        cannot be saved is kept in memory and saved at the next ack; ``count`` is unused:
        what is pending is recounted from the index)."""
        with self._lock:
            self._lent = None
            self._cursor = max(self._cursor, (last.segment, last.end))
            for n in [n for n in self._segs if n < self._cursor[0]]:
                self._remove(n)
            current = self._segs.get(self._cursor[0])
            if current is not None and current.ends and self._cursor[1] >= current.ends[-1]:
                self._remove(self._cursor[0])  # fully sent (a torn tail goes with it)
                self._cursor = (self._cursor[0] + 1, 0)
            self._save_cursor()
            self._recount()

    def _save_cursor(self) -> None:
        if self._cursor_file is not None:
            self._cursor_file.save(self._cursor)

    # --- other processes' directories --------------------------------------------------------
    def adopt_orphans(self) -> int:
        """Take over the records of directories whose process died; returns how many."""
        if self.refused is not None or self._closed:
            return 0
        taken = 0
        for lock in orphans(self.root, self.directory):
            with self._lock:
                self._close_write()  # new appends go after the adopted segments
                moved, empty = adopt(
                    lock.directory, self.directory, self._segs, self._cursor, self._adopt_tail
                )
                self._recount()
            taken += moved
            lock.release(remove=empty and lock.directory != self.root)
            if empty and lock.directory != self.root:
                with contextlib.suppress(OSError):
                    lock.directory.rmdir()
            if moved:
                log.info("outbox: adopted %d events of %s", moved, lock.directory)
        self.inherited += taken
        return taken

    def _adopt_tail(self, frames: list[bytes]) -> None:
        self._append_frames(frames)

    def close(self) -> None:
        """fsync and close files, release the directory. Idempotent; never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._close_write()
            self._save_cursor()
            if self._cursor_file is not None:
                self._cursor_file.close()
            empty = not any(s.ends for s in self._segs.values())
            if empty and self.directory != self.root:  # nothing to adopt: leave no trace
                for n in list(self._segs):
                    self._remove(n)
                with contextlib.suppress(OSError):
                    (self.directory / "cursor").unlink()
            if self._dirlock is not None:
                self._dirlock.release(remove=empty and self.directory != self.root)
            if empty and self.directory != self.root:
                with contextlib.suppress(OSError):
                    self.directory.rmdir()


#: Either outbox: on disk, or in memory when the directory is unusable.
AnyOutbox = Outbox | MemoryOutbox
