"""One writer per outbox directory: a lock held for the life of the process.

Two tool servers started in the same place share ``TOOLTRAIL_OUTBOX_DIR``. Without a lock
each would resend the other's records (every record twice) and their appends, acks and
cursor writes would interleave. So a process takes ``flock`` on ``<dir>/lock`` of the
directory it writes: the first one gets the directory itself, the next ones each create
and lock a subdirectory ``proc-<pid>-<random>``. The kernel drops a lock when its process
dies, so a directory whose lock is free belongs to nobody: a live process adopts it
(``orphans``) and drains its records as its own, so nothing is sent twice or left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from tooltrail.producer.outbox_files import private_directory

LOCK_NAME = "lock"
PROC_PREFIX = "proc-"


class DirLock:
    """An exclusive ``flock`` on ``<directory>/lock``, or nothing (``take`` said False)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None

    def take(self) -> bool:
        """Lock without waiting; False when another process (or open file) holds it."""
        path = self.directory / LOCK_NAME
        try:  # the directory may just have been adopted and removed by another process
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # the holder may have removed the directory between our open and our flock
            if os.fstat(fd).st_ino != os.lstat(path).st_ino:
                raise BlockingIOError
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def release(self, remove: bool = False) -> None:
        """Unlock (and with ``remove``, delete the lock file first). Never raises."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if remove:
            with contextlib.suppress(OSError):
                (self.directory / LOCK_NAME).unlink()
        with contextlib.suppress(OSError):
            os.close(fd)


def claim(root: Path) -> DirLock:
    """Lock ``root`` itself, or else a new private ``proc-*`` subdirectory of it.

    Raises ``OSError`` (``RefusedDirectory`` included) when neither can be used.
    """
    root = private_directory(root)
    lock = DirLock(root)
    if lock.take():
        return lock
    for _ in range(8):
        sub = root / f"{PROC_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        with contextlib.suppress(FileExistsError):
            sub.mkdir(mode=0o700)
            own = DirLock(private_directory(sub))
            if own.take():
                return own
    raise OSError(f"{root}: could not lock a directory of its own")


def orphans(root: Path, own: Path) -> Iterator[DirLock]:
    """Directories under ``root`` (``root`` included) that no live process holds, locked.

    The caller drains each and then releases it (``release(remove=True)`` once empty).
    """
    candidates = [root]
    with contextlib.suppress(OSError):
        candidates += sorted(p for p in root.iterdir() if p.name.startswith(PROC_PREFIX))
    for directory in candidates:
        if directory == own or directory.is_symlink() or not directory.is_dir():
            continue
        if not (directory / LOCK_NAME).exists():  # being created (locked next), or never used
            continue
        try:
            private_directory(directory)
            lock = DirLock(directory)
            if lock.take():
                yield lock
        except OSError:
            continue
