"""How the outbox touches the file system: private directories, no symlinks, whole writes.

The outbox directory holds events a tool server could not send yet; anyone who can write
into it can plant records that get sent as this tool server's events, or point a file at
something else the process may overwrite. So a directory is used only when it is a real
directory (not a symlink) owned by the effective user and writable by nobody else; files
are opened with ``O_NOFOLLOW`` and created with ``O_EXCL``. Appends go through
``write_all``: every byte is written or the file is truncated back to where it was, so a
full disk never leaves a torn record behind a counter that claims it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

#: ``os.write``'s shape; tests pass a fake one to produce short writes and ENOSPC.
Write = Callable[[int, bytes | memoryview], int]
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
#: Errors that mean "no room": the full-outbox policy applies, not a broken outbox.
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class RefusedDirectory(OSError):
    """The directory exists but may not be used (symlink, foreign owner, open to others)."""


def private_directory(path: Path) -> Path:
    """Create ``path`` (and its parents) with mode 0700 if missing, then check it is ours.

    Returns the absolute path. Raises ``RefusedDirectory`` when it is a symlink or not a
    directory, belongs to another user, or is writable by group or others; ``OSError``
    when it cannot be created.
    """
    path = Path(os.path.abspath(path))  # noqa: PTH100 - no symlink resolution wanted
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):  # parents too: Path.mkdir gives them the umask's mode
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise RefusedDirectory(errno.ENOTDIR, "not a directory (a symlink is refused)", str(path))
    if st.st_uid != os.geteuid():
        raise RefusedDirectory(
            errno.EPERM, f"owned by uid {st.st_uid}, not by this user ({os.geteuid()})", str(path)
        )
    if st.st_mode & 0o022:
        raise RefusedDirectory(
            errno.EPERM, f"writable by others (mode {stat.S_IMODE(st.st_mode):04o})", str(path)
        )
    return path


def open_new(path: Path, flags: int = os.O_WRONLY) -> int:
    """Create ``path`` exclusively (never an existing file, never through a symlink), 0600."""
    return os.open(path, flags | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)


def open_existing(path: Path, flags: int = os.O_RDONLY) -> int:
    """Open an existing ``path`` without following a symlink (ELOOP if it is one)."""
    return os.open(path, flags | _NOFOLLOW)


def is_regular(path: Path) -> bool:
    """True for a regular file that is not a symlink."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def raw_write(fd: int, data: bytes | memoryview) -> int:
    """``os.write``, looked up when called: the seam tests replace to fake a full disk."""
    return os.write(fd, data)


def write_all(fd: int, data: bytes, at: int, write: Write = raw_write) -> None:
    """Write all of ``data`` at the end of ``fd`` (which holds ``at`` bytes), or none of it.

    A short count is followed by a write of the rest; a failure (or a write of zero bytes)
    truncates the file back to ``at`` and raises. If even the truncation fails the error
    says so (``truncated`` attribute False): the caller must stop appending to this file.
    """
    view = memoryview(data)
    try:
        while view:
            view = view[_written(write(fd, view))]
    except OSError as exc:
        try:
            os.ftruncate(fd, at)
        except OSError:
            exc.truncated = False  # type: ignore[attr-defined]
        raise


def _written(n: int) -> slice:
    if n <= 0:  # no progress: never loop on it
        raise OSError(errno.ENOSPC, "write wrote nothing")
    return slice(n, None)


def errno_name(exc: OSError) -> str:
    """``ENOSPC``-style name of an error's errno (or its class name)."""
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
