"""Export the metrics segments as the seed-compatible JSON array, atomically and streaming.

Records are copied line by line (memory does not grow with the file) into a temporary file
beside the target, fsynced, then renamed over it: a reader sees the old file or the new
one, never a half-written one. The temporary file has an unpredictable name and is created
exclusively (a file or symbolic link planted there is never written through); a missing
directory is created 0700; a failed export leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import datetime
from pathlib import Path

import orjson

from tooltrail.consumers.files import private_dir, private_temp
from tooltrail.consumers.sinks.metrics import segments
from tooltrail.schemas.throttle import Throttle

log = logging.getLogger(__name__)
_unreadable = Throttle(log, "export: unreadable lines skipped")
_SKIPPED = "export: skipping an unreadable line in %s"


def _stamp(line: bytes) -> datetime | None:
    try:
        value = orjson.loads(line).get("timestamp")
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (orjson.JSONDecodeError, ValueError, AttributeError):
        return None


def export(
    directory: Path, out: Path, *, since: datetime | None = None, until: datetime | None = None
) -> int:
    """Write every record with ``since <= timestamp < until`` to ``out``; return the count."""
    private_dir(out.parent, tighten=False)  # the user's own directory keeps its mode
    handle, tmp = private_temp(out)
    count = 0
    try:
        with handle as f:
            f.write(b"[")
            for path in segments(directory):
                with path.open("rb") as seg:
                    for line in seg:
                        line = line.strip()
                        if not line:
                            continue
                        stamp = _stamp(line)
                        if stamp is None:  # a line torn by a crash, or not a record
                            _unreadable.warning(_SKIPPED, path.name)
                            continue
                        if (since and stamp < since) or (until and stamp >= until):
                            continue
                        f.write(b"\n  " if count == 0 else b",\n  ")
                        f.write(line)
                        count += 1
            f.write(b"\n]\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(out)
        _sync_directory(out.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _unreadable.flush()
    return count


def _sync_directory(directory: Path) -> None:
    """Make the rename durable (best effort: some file systems cannot fsync a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
