"""Files and directories only their owner can read: what tooltrail writes may hold tool data.

Directories are created 0700 (every missing parent too) and files 0600 whatever the process
umask; the CLI also sets its umask to 077 at start, which covers files that libraries and
child processes (Chroma, the broker) create on their own. Files are opened without following
a symbolic link planted at their name (``O_NOFOLLOW``), and temporary files get an
unpredictable name created exclusively (``private_temp``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
_REPLACE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Create ``path`` and each missing parent mode 0700; with ``tighten``, make ``path``
    itself 0700 if it already existed and is ours."""
    for part in [*reversed(path.parents), path]:
        if not part.exists():
            with contextlib.suppress(FileExistsError):  # made meanwhile by someone else
                part.mkdir(mode=0o700)
    if not tighten:
        return path
    with contextlib.suppress(OSError):  # not ours (e.g. a mounted volume): leave it
        if path.stat().st_uid == os.getuid():
            path.chmod(0o700)
    return path


def private_temp(beside: Path) -> tuple[BinaryIO, Path]:
    """A new temporary file next to ``beside`` (same directory, so a rename is atomic).

    Its name is unpredictable (``.<name>.<random>.tmp``) and it is created exclusively,
    mode 0600: a file or symbolic link planted in the directory can never be written through.
    """
    fd, name = tempfile.mkstemp(prefix=f".{beside.name}.", suffix=".tmp", dir=beside.parent)
    return os.fdopen(fd, "wb"), Path(name)


def private_binary(path: Path, *, append: bool) -> BinaryIO:
    """Open ``path`` for binary writing (appending or replacing), created mode 0600."""
    mode = "ab" if append else "wb"
    return cast(BinaryIO, os.fdopen(os.open(path, _APPEND if append else _REPLACE, 0o600), mode))


def private_text(path: Path, *, append: bool) -> TextIO:
    """Open ``path`` for text writing (appending or replacing), created mode 0600."""
    mode = "a" if append else "w"
    return cast(TextIO, os.fdopen(os.open(path, _APPEND if append else _REPLACE, 0o600), mode))


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600)."""
    with private_binary(path, append=False) as f:
        f.write(data)


def write_all(fd: int, data: bytes, write: Callable[[int, Any], int] = os.write) -> None:
    """Write every byte of ``data`` to ``fd`` or raise ``OSError``.

    ``os.write`` may write part of the data and report how much (a disk filling up); the
    rest is written until it is all in, and a write of nothing is an error (``ENOSPC``), so
    the caller can truncate back to where it started.
    """
    view = memoryview(data)
    done = 0
    while done < len(view):
        n = write(fd, view[done:])
        if n <= 0:
            raise OSError(errno.ENOSPC, "no byte written (disk full?)")
        done += n
