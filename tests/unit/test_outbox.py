"""The outbox: bounded, ordered, crash-tolerant, private."""

from __future__ import annotations

import stat
from pathlib import Path

from tooltrail.producer.outbox import Outbox, frame


def _fill(outbox: Outbox, n: int, size: int = 50) -> None:
    for i in range(n):
        outbox.append([(f"k{i}".encode(), f"{i:06d}".encode() + b"v" * size)])


def test_records_come_back_in_order_and_ack_persists_across_restart(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, 100_000, 1_000)
    _fill(outbox, 40)
    first = outbox.peek(15)
    assert [r.key for r in first] == [f"k{i}".encode() for i in range(15)]
    outbox.ack(first[-1], len(first))
    outbox.close()
    reopened = Outbox(tmp_path, 100_000, 1_000)
    assert reopened.pending == 25
    assert reopened.peek(1)[0].key == b"k15"
    rest = reopened.peek(100)
    reopened.ack(rest[-1], len(rest))
    assert reopened.pending == 0
    assert reopened.size_bytes == 0
    assert list(tmp_path.glob("seg-*.log")) == []


def test_bound_drops_oldest_and_counts_every_lost_record(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, 4_000, 1_000)
    _fill(outbox, 200)
    assert outbox.size_bytes <= 4_000
    assert outbox.dropped + outbox.pending == 200
    assert outbox.dropped > 0
    survivors = outbox.peek(1_000)
    assert len(survivors) == outbox.pending
    assert survivors[-1].key == b"k199"  # newest kept, oldest dropped
    numbers = [int(r.value[:6]) for r in survivors]
    assert numbers == sorted(numbers)


def test_torn_and_corrupt_records_are_skipped_one_by_one(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, 100_000, 100_000)
    _fill(outbox, 10)
    outbox.close()
    segment = next(tmp_path.glob("seg-*.log"))
    data = bytearray(segment.read_bytes())
    record = len(frame(b"k0", b"000000" + b"v" * 50))
    data[record * 3 + 20] ^= 0xFF  # flip a payload byte of record 3: its CRC no longer matches
    data += frame(b"torn", b"x" * 100)[:30]  # a crash mid-append
    segment.write_bytes(bytes(data))
    reopened = Outbox(tmp_path, 100_000, 100_000)
    keys = [r.key for r in reopened.peek(100)]
    assert keys == [f"k{i}".encode() for i in range(10) if i != 3]
    reopened.append([(b"after", b"restart")])  # never appended after the torn tail
    assert [r.key for r in reopened.peek(100)][-1] == b"after"


def test_files_are_private(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "ob", 100_000, 1_000)
    _fill(outbox, 30)
    outbox.close()
    for path in (tmp_path / "ob").glob("seg-*.log"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ob").stat().st_mode) == 0o700


def test_outbox_files_and_cursor_are_private_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        box = Outbox(tmp_path / "ob", 1 << 20, 1 << 16)
        box.append([(b"k", b"v")])
        box.ack(box.peek(1)[0], 1)
        box.append([(b"k", b"w")])
        box.close()
    finally:
        os.umask(old)
    paths = [tmp_path / "ob", *(tmp_path / "ob").iterdir()]
    assert any(p.name == "cursor" for p in paths)
    assert {oct(p.stat().st_mode & 0o777) for p in paths if p.is_file()} == {"0o600"}
    assert oct((tmp_path / "ob").stat().st_mode & 0o777) == "0o700"
