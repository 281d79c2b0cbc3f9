"""Segment files of an outbox directory and the index of whole records in each.

The outbox never trusts a count it did not derive from the disk: a segment's index holds
the end offset of every whole record, built by reading the file at start (or adoption)
and extended only after an append wrote every byte. ``pending`` and what ``peek`` returns
come from the same index, so they always agree.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

from tooltrail.producer.outbox_files import is_regular, open_existing
from tooltrail.producer.outbox_format import Position, parse, read_cursor

log = logging.getLogger(__name__)
_NAME = re.compile(r"seg-(\d{1,18})\.log")


@dataclass(slots=True)
class Segment:
    """A segment file: bytes in it and where each whole record ends."""

    size: int = 0
    ends: array[int] = field(default_factory=lambda: array("Q"))

    def after(self, offset: int) -> int:
        """Whole records that end after ``offset``."""
        return len(self.ends) - bisect_right(self.ends, offset)


def segment_path(directory: Path, n: int) -> Path:
    """The file of segment ``n``."""
    return directory / f"seg-{n:012d}.log"


def scan(directory: Path) -> list[int]:
    """Numbers of the segment files in ``directory`` (symlinks and other files ignored)."""
    found = []
    for path in directory.iterdir():
        match = _NAME.fullmatch(path.name)
        if match is None:
            continue
        if not is_regular(path):
            log.warning("outbox: ignoring %s: not a regular file (a symlink is refused)", path)
            continue
        found.append(int(match.group(1)))
    return sorted(found)


def read_bytes(path: Path, offset: int = 0, length: int = -1) -> bytes:
    """Bytes of ``path`` (never through a symlink) from ``offset``, up to ``length``."""
    fd = open_existing(path)
    try:
        if length < 0:
            length = os.fstat(fd).st_size - offset
        chunks, at = [], offset
        while length > 0:
            chunk = os.pread(fd, length, at)
            if not chunk:
                break
            chunks.append(chunk)
            at += len(chunk)
            length -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def index(path: Path) -> Segment:
    """Index the whole records of ``path``; damaged bytes are logged once for the file."""
    data = read_bytes(path)
    skipped: list[int] = []
    seg = Segment(len(data), array("Q", (end for _, _, _, end in parse(data, 0, skipped))))
    if skipped:
        log.warning(
            "outbox: %s: skipped %d bytes of torn or corrupt records in %d places",
            path.name,
            sum(skipped),
            len(skipped),
        )
    return seg


def read_records(
    path: Path, seg: Segment, start: int, limit: int
) -> list[tuple[bytes | None, bytes, int]]:
    """Up to ``limit`` whole records of ``seg`` (file ``path``) ending after ``start``, as
    ``(key, value, end)``; only what the index lists is read and returned."""
    first = len(seg.ends) - seg.after(start)
    last = min(len(seg.ends), first + limit)
    if last <= first:
        return []
    begin = max(start, seg.ends[first - 1] if first else 0)
    data = read_bytes(path, begin, seg.ends[last - 1] - begin)
    wanted = set(seg.ends[first:last])
    return [(k, v, begin + end) for _, k, v, end in parse(data) if begin + end in wanted]


def load_cursor(directory: Path, first: int) -> Position:
    """The persisted cursor of ``directory``, or the start of segment ``first``."""
    with contextlib.suppress(OSError):
        position = read_cursor(read_bytes(directory / "cursor", 0, 4096))
        if position is not None:
            return position
    return (first, 0)
