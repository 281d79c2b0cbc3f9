"""Export the metrics segments as the seed-compatible JSON array, atomically and streaming.

Records are copied line by line (memory does not grow with the file) into a temporary file
beside the target, fsynced, then renamed over it: a reader sees the old file or the new
one, never a half-written one.
"""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import datetime
from pathlib import Path

import orjson

from tooltrail.consumers.files import private_binary
from tooltrail.consumers.sinks.metrics import segments

log = logging.getLogger(__name__)


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
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with private_binary(tmp, append=False) as f:
            f.write(b"[")
            for path in segments(directory):
                with path.open("rb") as seg:
                    for line in seg:
                        line = line.strip()
                        if not line:
                            continue
                        stamp = _stamp(line)
                        if stamp is None:  # a line torn by a crash, or not a record
                            log.warning("export: skipping an unreadable line in %s", path.name)
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
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return count
