"""The outbox's files: private directories, no symlinks followed, one writer per directory.

Two ``Outbox`` objects in one process stand for two processes: ``flock`` locks belong to
an open file, so the second one is refused the lock exactly as another process would be.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.factories import make_event
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.outbox import Outbox
from tooltrail.producer.outbox_lock import DirLock
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.config import load_settings


def _values(outbox: Outbox) -> list[bytes]:
    return [r.value for r in outbox.peek(10**6)]


def test_a_planted_symlink_segment_is_never_read_nor_written(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.log"
    secret.write_bytes(b"not yours")
    box = tmp_path / "ob"
    Outbox(box, 1 << 20, 1 << 16).close()
    (box / "seg-000000000000.log").symlink_to(secret)
    outbox = Outbox(box, 1 << 20, 1 << 16)
    assert outbox.pending == 0
    outbox.append([(b"k", b"v")])  # created exclusively: never through the symlink
    outbox.close()
    assert secret.read_bytes() == b"not yours"
    assert _values(Outbox(box, 1 << 20, 1 << 16)) == [b"v"]


def test_a_symlinked_cursor_never_truncates_its_target(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious " * 100)
    box = tmp_path / "ob"
    box.mkdir(mode=0o700)
    (box / "cursor").symlink_to(victim)
    outbox = Outbox(box, 1 << 20, 1 << 16)
    outbox.append([(b"k", b"v")])
    outbox.ack(outbox.peek(1)[0], 1)
    outbox.close()
    assert victim.read_bytes() == b"precious " * 100
    assert not (box / "cursor").is_symlink()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o722])
def test_a_directory_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    box = tmp_path / "ob"
    box.mkdir()
    box.chmod(mode)
    outbox = Outbox(box, 1 << 20, 1 << 16)
    assert outbox.refused is not None
    assert "writable by others" in outbox.refused
    with pytest.raises(OSError, match="unusable"):
        outbox.append([(b"k", b"v")])
    assert list(box.iterdir()) == []  # nothing created in it


def test_a_directory_of_another_user_or_a_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    assert "symlink" in (Outbox(link, 1 << 20, 1 << 16).refused or "")
    if os.geteuid() != 0:
        pytest.skip("giving a directory to another user needs root (CI runs as root)")
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 12345, 12345)
    assert "owned by uid 12345" in (Outbox(foreign, 1 << 20, 1 << 16).refused or "")


def test_a_producer_on_a_hijacked_directory_keeps_events_in_memory_and_says_so(
    tmp_path: Path,
) -> None:
    box = tmp_path / "ob"
    box.mkdir()
    box.chmod(0o777)
    producer = TrailProducer(kafka_bootstrap="127.0.0.1:9", outbox_dir=box)
    producer.emit(make_event())  # never raises
    producer.close(timeout=0)
    stats = producer.stats()
    assert stats.outbox_usable is False
    assert (stats.emitted, stats.outbox_pending) == (1, 1)
    assert list(box.iterdir()) == []


def test_new_directories_and_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        outbox = Outbox(tmp_path / "a" / "b", 1 << 20, 1 << 16)
        outbox.append([(b"k", b"v")])
        outbox.close()
    finally:
        os.umask(old)
    for directory in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in (tmp_path / "a" / "b").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_the_default_outbox_is_absolute_and_per_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOOLTRAIL_OUTBOX_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    assert load_settings(ProducerSettings).outbox_dir == tmp_path / "state/tooltrail/outbox"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    default = load_settings(ProducerSettings).outbox_dir
    assert default == tmp_path / "home/.local/state/tooltrail/outbox"
    assert default.is_absolute()


def test_a_second_writer_takes_its_own_directory(tmp_path: Path) -> None:
    first = Outbox(tmp_path, 1 << 20, 1 << 16)
    second = Outbox(tmp_path, 1 << 20, 1 << 16)
    assert first.directory == tmp_path
    assert second.directory.parent == tmp_path
    assert second.directory.name.startswith("proc-")
    first.append([(b"k", b"one")])
    second.append([(b"k", b"two")])
    assert (_values(first), _values(second)) == ([b"one"], [b"two"])  # neither resends both
    assert second.adopt_orphans() == 0  # the first is alive: not adopted
    first.close()
    second.close()


def test_a_live_writer_adopts_a_dead_ones_records_exactly_once(tmp_path: Path) -> None:
    first = Outbox(tmp_path, 1 << 20, 200)
    second = Outbox(tmp_path, 1 << 20, 200)
    for i in range(20):
        first.append([(b"k", f"a{i:02d}".encode())])
    sent = first.peek(5)
    first.ack(sent[-1], 5)  # five were sent by the first: never again
    second.append([(b"k", b"b00")])
    first.close()  # its process ends: the lock is free
    third = Outbox(tmp_path, 1 << 20, 200)  # a new process: takes the free root, adopts
    assert third.directory == tmp_path
    assert third.inherited == 15
    assert second.adopt_orphans() == 0  # nothing left for anyone else
    assert list(_values(third)) == [f"a{i:02d}".encode() for i in range(5, 20)]
    second.close()  # now the second ends with a record pending
    assert third.adopt_orphans() == 1
    assert _values(third)[-1] == b"b00"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("proc-")] == []
    third.close()


def test_a_lock_is_refused_while_held_and_free_once_released(tmp_path: Path) -> None:
    one, two = DirLock(tmp_path), DirLock(tmp_path)
    assert one.take()
    assert not two.take()
    one.release()
    assert two.take()
    two.release()


def test_a_directory_being_created_is_not_adopted(tmp_path: Path) -> None:
    first = Outbox(tmp_path, 1 << 20, 1 << 16)
    starting = tmp_path / "proc-1-abcd"  # made by a process that has not locked it yet
    starting.mkdir(mode=0o700)
    assert first.adopt_orphans() == 0
    assert starting.is_dir()
    assert DirLock(starting).take()  # the starting process still gets its lock
    first.close()
