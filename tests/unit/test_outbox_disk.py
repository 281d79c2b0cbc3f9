"""The outbox on a disk that writes short and fills up: whole records or none, counts true."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tooltrail.producer.outbox import Outbox
from tooltrail.producer.outbox_format import parse


class Disk:
    """A fake ``os.write``: at most ``chunk`` bytes per call, ENOSPC past ``room`` bytes."""

    def __init__(self, chunk: int = 7, room: int = 10**9, error: int = errno.ENOSPC) -> None:
        self.chunk, self.room, self.calls, self.error = chunk, room, 0, error

    def __call__(self, fd: int, data: bytes | memoryview) -> int:
        self.calls += 1
        n = min(len(data), self.chunk, self.room)
        if n <= 0:
            raise OSError(self.error, os.strerror(self.error))
        self.room -= n
        return os.write(fd, bytes(data[:n]))


def _records(n: int, start: int = 0) -> list[tuple[bytes | None, bytes]]:
    return [(f"k{i}".encode(), f"{i:06d}".encode() + b"v" * 40) for i in range(start, start + n)]


def _on_disk(directory: Path) -> list[bytes]:
    values = []
    for segment in sorted(directory.glob("seg-*.log")):
        data = segment.read_bytes()
        skipped: list[int] = []
        values += [v[:6] for _, _, v, _ in parse(data, 0, skipped)]
        assert skipped == [], f"{segment.name} holds a torn record"
    return values


def test_short_writes_are_continued_until_every_byte_is_written(tmp_path: Path) -> None:
    disk = Disk(chunk=7)
    outbox = Outbox(tmp_path, 1 << 20, 1 << 16, write=disk)
    outbox.append(_records(5))
    assert disk.calls > 5  # the fake did write short
    assert _on_disk(tmp_path) == [f"{i:06d}".encode() for i in range(5)]
    assert outbox.pending == 5


def test_a_write_that_fails_midway_is_truncated_back_and_raises(tmp_path: Path) -> None:
    disk = Disk(chunk=10**6, error=errno.EIO)
    outbox = Outbox(tmp_path, 1 << 20, 1 << 16, write=disk)
    outbox.append(_records(3))
    disk.room, disk.chunk = 30, 7  # the next append gets 30 bytes in, then EIO
    size = outbox.size_bytes
    with pytest.raises(OSError, match="Input/output"):
        outbox.append(_records(3, start=3))
    assert outbox.pending == 3
    assert outbox.size_bytes == size
    assert outbox.unusable is not None
    assert "EIO" in outbox.unusable  # outbox_usable tells the truth
    assert _on_disk(tmp_path) == [f"{i:06d}".encode() for i in range(3)]
    disk.room = 10**9
    outbox.append(_records(1, start=6))  # space back: appends go on after the whole records
    assert outbox.unusable is None
    assert _on_disk(tmp_path) == [f"{i:06d}".encode() for i in (0, 1, 2, 6)]


def test_a_full_disk_drops_the_oldest_segment_and_keeps_the_newest(tmp_path: Path) -> None:
    disk = Disk(chunk=10**6)
    outbox = Outbox(tmp_path, 1 << 20, 600, write=disk)
    for i in range(40):
        outbox.append(_records(1, start=i))
    disk.room = 0  # full: only what dropping old segments frees is available again

    class Freed(Disk):
        def __call__(self, fd: int, data: bytes | memoryview) -> int:
            if len(list(tmp_path.glob("seg-*.log"))) > 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            return os.write(fd, bytes(data))

    outbox._write = Freed()
    outbox.append(_records(1, start=40))
    kept = _on_disk(tmp_path)
    assert kept[-1] == b"000040"  # the newest is kept
    assert outbox.drops["disk_full"] > 0
    assert outbox.drops["disk_full"] + outbox.pending == 41  # every record accounted for
    assert len(kept) == outbox.pending
    assert outbox.drop_error == "ENOSPC: No space left on device"  # what the warnings name


def test_nothing_left_to_drop_raises_and_counts_nothing_it_did_not_lose(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, 1 << 20, 1 << 16, write=Disk(room=0))
    with pytest.raises(OSError, match="No space"):
        outbox.append(_records(2))
    assert (outbox.pending, outbox.dropped) == (0, 0)


def test_an_ack_whose_cursor_cannot_be_written_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(tmp_path, 1 << 20, 1 << 16)
    outbox.append(_records(10))
    first = outbox.peek(4)

    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    outbox.ack(first[-1], 4)  # must not raise
    assert outbox.pending == 6
    assert next(r.value[:6] for r in outbox.peek(10)) == b"000004"  # kept in memory
    monkeypatch.undo()
    rest = outbox.peek(10)
    outbox.ack(rest[-1], len(rest))  # saved again once the disk takes it
    outbox.close()
    assert Outbox(tmp_path, 1 << 20, 1 << 16).pending == 0


def test_pending_and_peek_agree_after_a_torn_tail(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, 1 << 20, 1 << 16)
    outbox.append(_records(5))
    outbox.close()
    segment = next(tmp_path.glob("seg-*.log"))
    with segment.open("ab") as f:
        f.write(b"TTR1\x00\x00")  # a crash mid-append
    reopened = Outbox(tmp_path, 1 << 20, 1 << 16)
    assert reopened.pending == len(reopened.peek(100)) == 5
    reopened.ack(reopened.peek(100)[-1], 5)
    assert reopened.pending == 0
    assert reopened.peek(100) == []


def test_a_record_lent_to_a_resend_is_not_counted_dropped_with_its_segment(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path, 1500, 500)
    outbox.append(_records(8))
    lent = outbox.peek(3)  # a resend flight holds these
    outbox.append(_records(30, start=8))  # the bound drops old segments meanwhile
    assert not outbox.holds((lent[0].segment, lent[0].end))
    # the three in the flight are counted by it (resent, or appended again if it fails)
    assert outbox.dropped + outbox.pending + 3 == 38


def test_an_unreadable_segment_is_counted_lost_and_the_rest_still_flows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tooltrail.producer import outbox_segments

    outbox = Outbox(tmp_path, 1 << 20, 300)
    for i in range(12):
        outbox.append(_records(1, start=i))
    bad = min(tmp_path.glob("seg-*.log"))
    real = outbox_segments.read_bytes

    def failing(path: Path, offset: int = 0, length: int = -1) -> bytes:
        if path == bad:
            raise OSError(errno.EIO, "Input/output error")
        return real(path, offset, length)

    monkeypatch.setattr(outbox_segments, "read_bytes", failing)
    got = outbox.peek(100)
    assert outbox.drops["outbox_error"] > 0
    assert len(got) + outbox.drops["outbox_error"] == 12  # every record: readable or counted
    assert outbox.pending == len(got)
