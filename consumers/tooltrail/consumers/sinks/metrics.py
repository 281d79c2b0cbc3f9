"""The metrics sink (``tooltrail-metrics``): one ``MetricRecord`` per event in JSON Lines.

Segments ``metrics-<yyyymmdd>-<nnnnnn>-<writer>.jsonl`` (mode 0600) are appended and fsynced
once per batch, rotated by size and by UTC day. ``<writer>`` (the host name, i.e. the pod name,
unless ``TOOLTRAIL_METRICS_WRITER_ID`` says otherwise) keeps the members of a scaled-out group
from appending to one file on a shared volume: each appends only to its own segments, and all
of them read every segment (network filesystems do not make concurrent appends atomic).
The ids of the newest ``dedup_window`` records are kept in memory as 8-byte hashes (indexed
at start, refreshed after each rebalance), so redeliveries, restarts and re-reads within the
window never write a record twice. A batch is written whole or not at all: every byte
``os.write`` reports is counted until the batch is in, then fsynced; a write that fails
partway (disk full, directory gone or unwritable, a failing fsync) is truncated back to the
previous end of file, checked, and raised as ``RetriableSinkError``: the runner pauses,
retries the same batch and commits nothing. Ids enter the dedup window only once their batch
is fsynced, and ``written_records`` counts only those. If the tail cannot be cut back, the
sink never appends to that segment again (the retried batch starts a new one, never on a
partial line). A process killed in the middle of a write may leave a torn last line: a
started sink never appends after it either, and readers skip it (one throttled warning).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path

import orjson

from tooltrail.consumers.errors import RetriableSinkError
from tooltrail.consumers.files import private_dir, write_all
from tooltrail.consumers.lanes import Lane
from tooltrail.consumers.sinks.base import Delivered
from tooltrail.schemas.codec import encode
from tooltrail.schemas.records import MetricRecord, VectorTarget
from tooltrail.schemas.throttle import Throttle

log = logging.getLogger(__name__)
_unreadable = Throttle(log, "metrics: unreadable lines skipped")
_rollbacks = Throttle(log, "metrics: tails not cut back")
SEGMENT = re.compile(r"^metrics-(\d{8})-(\d{6})(?:-([A-Za-z0-9._-]+))?\.jsonl$")


def default_writer_id() -> str:
    """The host name (a pod's name in Kubernetes), reduced to the characters a segment allows."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:63] or "writer"


def _h(event_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "little")


def segments(directory: Path, *, links: bool = False) -> list[Path]:
    """The metrics segments of ``directory``, oldest first (symbolic links only if ``links``:
    no reader follows one planted there)."""
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if SEGMENT.match(p.name) and (links or not p.is_symlink())
    )


class MetricsSink:
    """Appends metrics records to JSON Lines segments (see module docstring)."""

    name = "metrics"

    def __init__(
        self,
        directory: Path,
        segment_bytes: int,
        vector: VectorTarget | None = None,
        dedup_window: int = 500_000,
        writer_id: str | None = None,
    ) -> None:
        self.directory = directory
        self.writer_id = writer_id or default_writer_id()
        self.segment_bytes = segment_bytes
        self.vector = vector
        self.dedup_window = dedup_window
        self.duplicates_skipped = 0
        self.written_records = 0  # records whose batch is fsynced
        self._ids: dict[int, None] = {}  # 8-byte hashes of recent event ids, oldest first
        self._indexed: dict[str, int] = {}  # segment name -> bytes already indexed
        self._current: Path | None = None
        self._fresh = True  # after a start, never append behind a tail a crash may have torn
        self.lane = Lane("metrics")

    async def start(self) -> None:
        """Index the event ids of the newest records (the dedup window)."""
        await self.lane.run(self._index)

    async def reload(self) -> None:
        """Index what other members appended since (after a rebalance, in a shared directory)."""
        await self.lane.run(self._index)

    def _index(self) -> None:
        try:
            private_dir(self.directory, tighten=False)
        except OSError as exc:  # the first write reports it and is retried
            log.warning("metrics directory unavailable: %s", exc)
            return
        chosen, lines = [], 0
        for path in reversed(segments(self.directory)):  # newest first, until the window is full
            size = path.stat().st_size
            if size > self._indexed.get(path.name, 0):
                chosen.append((path, self._indexed.get(path.name, 0), size))
            lines += size // 300  # records are a few hundred bytes: a cheap upper estimate
            if lines >= self.dedup_window:
                break
        for path, start, size in reversed(chosen):
            with path.open("rb") as f:
                f.seek(start)
                for line in f.read(size - start).splitlines():
                    try:
                        self._remember(orjson.loads(line)["eventId"])
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        _unreadable.warning("metrics: skipping an unreadable line in %s", path.name)
            self._indexed[path.name] = size
            if self._own(path):
                self._current = path
        _unreadable.flush()

    def _own(self, path: Path) -> bool:
        m = SEGMENT.match(path.name)
        return m is not None and m.group(3) == self.writer_id

    def _remember(self, event_id: str) -> None:
        self._ids[_h(event_id)] = None
        while len(self._ids) > self.dedup_window:
            del self._ids[next(iter(self._ids))]

    async def write(self, batch: list[Delivered]) -> None:
        """Append the batch's new records and fsync; idempotent per event id."""
        fresh: dict[str, bytes] = {}
        for item in batch:
            eid = item.event.event_id
            if eid in fresh or _h(eid) in self._ids:
                self.duplicates_skipped += 1
                continue
            fresh[eid] = encode(MetricRecord.from_event(item.event, self.vector)) + b"\n"
        if fresh:
            await self.lane.run(self._append, fresh)

    def _target(self, incoming: int) -> Path:
        today = datetime.now(UTC).strftime("%Y%m%d")
        current = None if self._fresh else self._current
        if current is not None and current.exists():
            m = SEGMENT.match(current.name)
            if (
                m
                and m.group(1) == today
                and current.stat().st_size + incoming <= self.segment_bytes
            ):
                return current
        mine = [
            m
            for p in segments(self.directory, links=True)  # a planted link still takes its name
            if (m := SEGMENT.match(p.name)) and m.group(3) == self.writer_id
        ]
        seq = max((int(m.group(2)) for m in mine if m.group(1) == today), default=0) + 1
        path = self.directory / f"metrics-{today}-{seq:06d}-{self.writer_id}.jsonl"
        self._current, self._fresh = path, False
        return path

    def _append(self, fresh: dict[str, bytes]) -> None:
        data = b"".join(fresh.values())
        try:
            private_dir(self.directory, tighten=False)
            path = self._target(len(data))
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink planted as our segment: never follow it
                self._fresh = True
            raise RetriableSinkError(f"metrics directory {self.directory}: {exc.strerror}") from exc
        try:
            end = os.fstat(fd).st_size
            try:
                write_all(fd, data)
                os.fsync(fd)
            except OSError as exc:
                self._roll_back(fd, path, end)
                raise RetriableSinkError(f"metrics write to {path.name}: {exc.strerror}") from exc
        finally:
            os.close(fd)
        for eid in fresh:
            self._remember(eid)
        self.written_records += len(fresh)

    def _roll_back(self, fd: int, path: Path, end: int) -> None:
        """Cut ``path`` back to ``end``; if that fails, never append to it again."""
        with contextlib.suppress(OSError):
            os.ftruncate(fd, end)
            if os.fstat(fd).st_size == end:
                with contextlib.suppress(OSError):
                    os.fsync(fd)
                return
        self._fresh = True  # the retried batch goes to a new segment, not after a torn tail
        _rollbacks.warning(
            "metrics: could not cut %s back to %d bytes; starting a new segment",
            path.name,
            end,
        )

    async def close(self) -> None:
        """Nothing to release (every batch is already closed and fsynced): end the lane."""
        self.lane.close()
