"""Adopting a dead process's outbox directory: its records become ours, each exactly once.

A whole unsent segment is moved with ``rename`` (atomic, needs no space on a full disk): at
any moment it is in one directory or the other, so a crash mid-adoption neither loses nor
duplicates it. Only the segment the dead process was part way through is copied (its sent
head must not be sent again); a crash between that copy and the removal of the original
is the one case that may send its tail twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from tooltrail.producer.outbox_format import Position, frame, parse
from tooltrail.producer.outbox_segments import (
    Segment,
    index,
    load_cursor,
    read_bytes,
    scan,
    segment_path,
)

log = logging.getLogger(__name__)


def adopt(
    source: Path,
    target: Path,
    segs: dict[int, Segment],
    cursor: Position,
    append: Callable[[list[bytes]], object],
) -> tuple[int, bool]:
    """Move the unsent records of ``source`` (locked by the caller) into ``target``.

    ``segs`` is the target's index (updated in place; the caller holds its lock and has
    closed its write segment), ``cursor`` its cursor, ``append`` writes frames to it.
    Returns ``(records moved, source left without records)``. Stops at the first error
    (logged); what is left is adopted by a later attempt.
    """
    numbers = scan(source)
    s_seg, s_off = load_cursor(source, min(numbers, default=0))
    moved = 0
    try:
        for m in numbers:
            path = segment_path(source, m)
            seg = index(path) if m >= s_seg else Segment()
            skip = len(seg.ends) - seg.after(s_off) if m == s_seg else 0
            if len(seg.ends) > skip and skip == 0:
                n = max(max(segs, default=-1) + 1, cursor[0])
                while segment_path(target, n).exists():
                    n += 1
                path.rename(segment_path(target, n))
                segs[n] = seg
            elif len(seg.ends) > skip:
                begin = seg.ends[skip - 1]
                data = read_bytes(path, begin, seg.ends[-1] - begin)
                append([frame(k, v) for _, k, v, _ in parse(data)])
                path.unlink()
            else:
                path.unlink()
            moved += len(seg.ends) - skip
    except OSError as exc:
        log.warning("outbox: adopting %s stopped: %s (retried later)", source, exc)
        return moved, False
    with contextlib.suppress(OSError):
        (source / "cursor").unlink(missing_ok=True)
    return moved, True
