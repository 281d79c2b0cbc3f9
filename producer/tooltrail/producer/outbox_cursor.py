"""The outbox's cursor file: where the unacknowledged records start, kept across restarts.

It is one fixed-width line overwritten in place with ``pwrite``: on a full disk that needs
no new block, where a temporary file and a rename would. A write that fails anyway leaves
the cursor in memory (the caller's) and is retried at the next save; the failure is logged
once per failing stretch, not once per acknowledgement. The file is opened without
following a symlink: a planted link is removed, never written through.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path

from tooltrail.producer import outbox_files as files
from tooltrail.producer.outbox_format import CURSOR_BYTES, Position, cursor_line

log = logging.getLogger(__name__)


class CursorFile:
    """``<directory>/cursor``, open for the life of the outbox."""

    def __init__(self, directory: Path) -> None:
        path = directory / "cursor"
        if path.is_symlink() or (path.exists() and not files.is_regular(path)):
            log.warning("outbox: removing %s: not a regular file (a symlink is refused)", path)
            path.unlink()
        try:
            self._fd: int | None = files.open_existing(path, os.O_RDWR)
        except FileNotFoundError:
            self._fd = files.open_new(path, os.O_RDWR)
        self.error: str | None = None  # errno of the last failed save, until one succeeds

    def save(self, position: Position) -> bool:
        """Write ``position``; False (logged once per stretch) if the disk refused it."""
        if self._fd is None:
            return False
        failure: OSError = OSError(errno.ENOSPC, "short write of the cursor")
        try:
            written = os.pwrite(self._fd, cursor_line(position), 0)
        except OSError as exc:
            written, failure = 0, exc
        if written == CURSOR_BYTES:
            self.error = None
            return True
        if self.error is None:
            log.warning(
                "outbox: cursor not saved (%s: %s); kept in memory, saved at the next ack",
                files.errno_name(failure),
                failure.strerror or failure,
            )
        self.error = files.errno_name(failure)
        return False

    def close(self) -> None:
        """Close the file. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
