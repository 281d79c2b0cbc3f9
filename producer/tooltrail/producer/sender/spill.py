"""The outbox side of the sender: append what Kafka cannot take, fsync it, count refusals.

The sender is the outbox's only writer while it runs. A spill never raises: what the disk
refuses is counted dropped by reason (``disk_full`` keeps the newer half first), and one
warning per ``TOOLTRAIL_OVERFLOW_WARN_INTERVAL_S`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from tooltrail.producer import outbox_files
from tooltrail.producer.record import Record
from tooltrail.producer.sender.state import Position, SenderState, log


class OutboxSpill(SenderState):
    """Spilling to the outbox and counting what it refuses (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The spill side's own fields: the last disk error, fsync timing, drop warnings."""
        super().__init__(*args, **kwargs)
        self.outbox_error: str | None = None  # the last error that cost spilled events
        self._sync_due: asyncio.TimerHandle | None = None
        self._sync_failing = False
        self._warned_at = -1e9
        self._warned_drops = 0

    def keep(self, recs: Sequence[Record]) -> None:
        """Write ``recs`` to the outbox on the calling thread (the sender is not running:
        never started, or stopped). Never raises."""
        if not recs:
            return
        try:
            self.outbox.append([(r.key, r.value) for r in recs])
        except OSError as exc:
            self._count_lost(recs, exc)
            return
        self.counters.add("spilled", len(recs))
        with contextlib.suppress(OSError):
            self.outbox.sync()

    @property
    def last_outbox_error(self) -> str | None:
        """The last disk error that cost events: a failed spill, or a segment given up."""
        return self.outbox_error or self.outbox.drop_error

    def _warn_drops(self) -> None:
        """At most one warning per ``TOOLTRAIL_OVERFLOW_WARN_INTERVAL_S`` about lost events."""
        dropped = self.counters.dropped()
        outbox = dict(self.outbox.drops)
        total = sum(dropped.values()) + sum(outbox.values())
        now = time.monotonic()
        if total > self._warned_drops and now - self._warned_at >= (
            self.settings.overflow_warn_interval_s
        ):
            self._warned_at, self._warned_drops = now, total
            log.warning(
                "tooltrail: events were dropped (last outbox error: %s)",
                self.last_outbox_error or "none",
                extra={"dropped": {**dropped, **outbox}, "outbox_error": self.last_outbox_error},
            )

    def _spill(self, recs: list[Record]) -> list[Position] | None:
        """Append to the outbox; None (and every record counted dropped) if it refuses."""
        if not recs:
            return None
        try:
            positions = self.outbox.append([(r.key, r.value) for r in recs])
        except OSError as exc:
            if exc.errno in outbox_files.NO_SPACE and len(recs) > 1:  # keep the newer half
                half = len(recs) // 2
                self._count_lost(recs[:half], exc)
                return self._spill(recs[half:])
            self._count_lost(recs, exc)
            self._warn_drops()
            return None
        fresh = sum(1 for r in recs if not r.resent)
        if fresh:
            self.counters.add("spilled", fresh)
        self._schedule_sync()
        return positions

    def _count_lost(self, recs: Sequence[Record], exc: OSError) -> None:
        """Count records the outbox refused, by reason; remember the errno for the logs."""
        reason = "disk_full" if exc.errno in outbox_files.NO_SPACE else "outbox_error"
        self.counters.add(f"dropped:{reason}", len(recs))
        self.outbox_error = f"{outbox_files.errno_name(exc)}: {exc.strerror or exc}"

    def _schedule_sync(self) -> None:
        if self._sync_due is not None:
            return
        loop = asyncio.get_running_loop()
        self._sync_due = loop.call_later(self.settings.outbox_fsync_interval_ms / 1000, self._sync)

    def _sync(self) -> None:
        self._sync_due = None
        try:
            self.outbox.sync()
        except OSError as exc:
            if not self._sync_failing:  # once per failing stretch
                name = outbox_files.errno_name(exc)
                log.warning("tooltrail: outbox fsync failed (%s): %s", name, exc)
            self._sync_failing = True
        else:
            self._sync_failing = False
