"""The metrics sink on a disk that fills up: a batch is whole on disk or not there at all.

``Disk`` stands in for the file system's free space: ``os.write`` writes what fits and
reports the short count, then fails with ENOSPC, as Linux does on a full file system. Every
retry must leave each event exactly once, on whole lines, with the counters and the dedup
window saying only what is on disk.
"""

from __future__ import annotations

import errno
import functools
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_event
from tooltrail.consumers.errors import RetriableSinkError
from tooltrail.consumers.files import write_all
from tooltrail.consumers.sinks import metrics
from tooltrail.consumers.sinks.base import Delivered
from tooltrail.consumers.sinks.metrics import MetricsSink, _h, segments


class Disk:
    """Free space that ``write`` uses up: a short count first, then ENOSPC."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.calls = 0

    def write(self, fd: int, data: Any) -> int:
        self.calls += 1
        if self.free <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = os.write(fd, bytes(data[: self.free]))
        self.free -= n
        return n


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Disk:
    disk = Disk(10**9)
    monkeypatch.setattr(metrics, "write_all", functools.partial(write_all, write=disk.write))
    return disk


def _lines(directory: Path) -> list[bytes]:
    return [line for p in segments(directory) for line in p.read_bytes().split(b"\n")[:-1]]


def _ids_on_disk(directory: Path) -> list[str]:
    return [orjson.loads(line)["eventId"] for line in _lines(directory)]


def _batch(n: int, start: int = 0) -> list[Delivered]:
    return [Delivered(make_event(session_id=f"s{start + i}"), 0, start + i) for i in range(n)]


async def test_a_write_cut_short_by_a_full_disk_is_rolled_back_exactly(
    tmp_path: Path, disk: Disk
) -> None:
    sink = MetricsSink(tmp_path, 10**7)
    await sink.start()
    first = _batch(5)
    await sink.write(first)
    size = segments(tmp_path)[0].stat().st_size
    second = _batch(10, 5)
    disk.free = 700  # a record and a bit: the batch is cut inside its second line
    with pytest.raises(RetriableSinkError, match="No space left on device"):
        await sink.write(second)
    assert disk.calls >= 2  # the short count was seen, then the error
    assert segments(tmp_path)[0].stat().st_size == size  # not one byte of the batch is left
    assert sink.written_records == 5
    assert all(_h(d.event.event_id) not in sink._ids for d in second)  # never remembered
    disk.free = 10**9  # space is back: the same batch is written whole, after whole lines
    await sink.write(second)
    assert _ids_on_disk(tmp_path) == [d.event.event_id for d in first + second]
    assert sink.written_records == 15
    await sink.close()


async def test_a_failing_fsync_rolls_the_batch_back(
    tmp_path: Path, disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = MetricsSink(tmp_path, 10**7)
    await sink.start()
    await sink.write(_batch(2))

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(metrics.os, "fsync", failing)
    with pytest.raises(RetriableSinkError, match="Input/output error"):
        await sink.write(_batch(3, 2))
    monkeypatch.undo()
    assert len(_ids_on_disk(tmp_path)) == 2
    assert sink.written_records == 2
    await sink.close()


async def test_a_tail_that_cannot_be_cut_back_is_never_appended_to(
    tmp_path: Path, disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = MetricsSink(tmp_path, 10**7)
    await sink.start()
    await sink.write(_batch(2))

    def refusing(fd: int, length: int) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(metrics.os, "ftruncate", refusing)
    disk.free = 100  # the batch leaves a partial first line behind
    with pytest.raises(RetriableSinkError):
        await sink.write(_batch(3, 2))
    monkeypatch.undo()
    disk.free = 10**9
    await sink.write(_batch(3, 2))
    torn, fresh = segments(tmp_path)
    assert not torn.read_bytes().endswith(b"\n")  # the partial line stayed where it was...
    assert len(fresh.read_bytes().splitlines()) == 3  # ...and the retry started a new segment
    assert all(line.startswith(b"{") for line in fresh.read_bytes().splitlines())
    await sink.close()


def test_write_all_counts_every_byte_and_a_write_of_nothing_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        write_all(fd, b"abcdefgh", write=lambda f, d: os.write(f, bytes(d[:3])))
        assert path.read_bytes() == b"abcdefgh"
        with pytest.raises(OSError, match="no byte written") as info:
            write_all(fd, b"x", write=lambda f, d: 0)
        assert info.value.errno == errno.ENOSPC
    finally:
        os.close(fd)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    space=st.lists(st.integers(0, 20_000), min_size=1, max_size=12),
)
async def test_whatever_the_disk_does_each_event_is_on_disk_once_on_whole_lines(
    tmp_path_factory: pytest.TempPathFactory,
    disk: Disk,
    batches: list[int],
    space: list[int],
) -> None:
    directory = tmp_path_factory.mktemp("metrics")
    sink = MetricsSink(directory, 8_192)  # small segments: rotation happens mid-run too
    await sink.start()
    wanted: list[str] = []
    refills = iter(space)
    start = 0
    for size in batches:
        batch = _batch(size, start)
        start += size
        disk.free = next(refills, 10**9)
        while True:  # the runner retries the same batch until it goes through
            try:
                await sink.write(batch)
                break
            except RetriableSinkError:
                disk.free += next(refills, 10**9)
        wanted += [d.event.event_id for d in batch]
    assert _ids_on_disk(directory) == wanted
    assert sink.written_records == len(wanted)
    await sink.close()


async def test_a_symlink_planted_as_the_next_segment_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me\n")
    directory = tmp_path / "metrics"
    sink = MetricsSink(directory, 10**7, writer_id="w")
    await sink.start()
    await sink.write(_batch(1))
    [segment] = segments(directory)
    segment.unlink()
    segment.symlink_to(victim)
    sink._fresh = False  # keep appending to the current segment, now a symlink
    with pytest.raises(RetriableSinkError):
        await sink.write(_batch(1, 1))
    await sink.write(_batch(1, 1))  # the retry goes to a new segment of its own
    assert victim.read_bytes() == b"keep me\n"
    assert [p.is_symlink() for p in segments(directory, links=True)] == [True, False]
    assert len(segments(directory)) == 1  # readers (index, export) do not follow it
    await sink.close()
