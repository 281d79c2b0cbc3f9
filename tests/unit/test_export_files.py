"""``metrics export`` and the private files it writes: nothing planted in the directory is
followed, the temporary name cannot be guessed, and a failure leaves nothing behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest

from tests.factories import make_event
from tooltrail.consumers.files import private_binary, private_dir, private_temp
from tooltrail.consumers.sinks import metrics_export
from tooltrail.consumers.sinks.base import Delivered
from tooltrail.consumers.sinks.metrics import MetricsSink
from tooltrail.consumers.sinks.metrics_export import export


async def _segments(directory: Path, n: int) -> list[str]:
    sink = MetricsSink(directory, 10**7)
    await sink.start()
    events = [make_event(session_id=f"s{i}") for i in range(n)]
    await sink.write([Delivered(e, 0, i) for i, e in enumerate(events)])
    await sink.close()
    return [e.event_id for e in events]


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_symlinks_planted_at_every_predictable_temporary_name_are_not_followed(
    tmp_path: Path,
) -> None:
    ids = await _segments(tmp_path / "metrics", 3)
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched\n")
    out = tmp_path / "reports" / "metrics.json"
    out.parent.mkdir()
    for pid in range(os.getpid() - 50, os.getpid() + 50):  # the old name: .<out>.<pid>.tmp
        (out.parent / f".{out.name}.{pid}.tmp").symlink_to(victim)
    assert export(tmp_path / "metrics", out) == 3
    assert victim.read_bytes() == b"untouched\n"
    assert [r["eventId"] for r in orjson.loads(out.read_bytes())] == ids
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    leftovers = [p for p in out.parent.iterdir() if not p.is_symlink() and p != out]
    assert leftovers == []


def test_temporary_files_are_unpredictable_exclusive_and_private(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    names = set()
    for _ in range(20):
        handle, path = private_temp(target)
        with handle:
            assert path.parent == tmp_path
            assert path.name.startswith(".x.json.")
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        names.add(path.name)
        path.unlink()
    assert len(names) == 20


async def test_a_failed_export_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _segments(tmp_path / "metrics", 2)
    out = tmp_path / "metrics.json"
    out.write_bytes(b"[]\n")

    def failing(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(metrics_export.os, "fsync", failing)
    with pytest.raises(OSError, match="No space left"):
        export(tmp_path / "metrics", out)
    monkeypatch.undo()
    assert out.read_bytes() == b"[]\n"
    assert _names(tmp_path) == ["metrics", "metrics.json"]


def test_missing_directories_are_made_0700_and_an_existing_one_is_left_alone(
    tmp_path: Path,
) -> None:
    old = os.umask(0o022)
    try:
        made = private_dir(tmp_path / "a" / "b" / "c", tighten=False)
        for part in (tmp_path / "a", tmp_path / "a" / "b", made):
            assert stat.S_IMODE(part.stat().st_mode) == 0o700, part
        tmp_path.chmod(0o755)
        private_dir(tmp_path, tighten=False)
        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755
        private_dir(tmp_path)
        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    finally:
        os.umask(old)


def test_private_files_do_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "log").symlink_to(victim)
    for append in (True, False):
        with pytest.raises(OSError, match="Too many levels of symbolic links"):
            private_binary(tmp_path / "log", append=append)
    assert victim.read_bytes() == b"keep"
