"""The resend side: the outbox drains beside live traffic, one batch at a time.

A record read back stays in the outbox until its whole batch is acknowledged. Before a
batch is resent, sends of its records that timed out may still be answered: the resend waits
for them (up to ``TOOLTRAIL_REQUEST_TIMEOUT_MS``) and skips what they delivered, so that case
writes no duplicate. Reading records back for their headers is paced (``Pacer``). Outboxes
of dead processes are adopted every ``TOOLTRAIL_OUTBOX_ADOPT_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tooltrail.producer.record import Record
from tooltrail.producer.sender.flights import Flights
from tooltrail.producer.sender.pacing import Pacer
from tooltrail.producer.sender.state import ResentRecord, first_of, position_of
from tooltrail.schemas.headers import event_headers_of


class Resend(Flights):
    """Resending the outbox (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The resend side's own fields: one batch at a time, and its pacing."""
        super().__init__(*args, **kwargs)
        self._resending = asyncio.Lock()  # one resend batch at a time (loop, or stop's drain)
        self._pace = Pacer(self.settings.sender_slice_us, self.settings.sender_pause_us, self.acc)

    async def _resend_loop(self) -> None:
        adopt_every = self.settings.outbox_adopt_interval_s
        adopted_at = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - adopted_at >= adopt_every:  # dead processes' outboxes
                adopted_at = time.monotonic()
                if self.outbox.adopt_orphans():
                    self._resend_wake.set()
            if not (self.live and self.outbox.pending and self._kafka is not None):
                self._resend_wake.clear()
                await first_of(self._stop.wait(), self._resend_wake.wait(), timeout=1.0)
                continue
            if self.in_flight >= self.settings.max_in_flight:
                await asyncio.sleep(self.settings.linger_ms / 1000 or 0.001)
                continue
            await self._resend_once()

    async def _resend_once(self) -> None:
        async with self._resending:
            await self._resend_batch()

    async def _resend_batch(self) -> None:
        s = self.settings
        room = max(min(s.batch_size, s.max_in_flight - self.in_flight), 1)
        records = self.outbox.peek(room)
        if not records:  # nothing readable (a segment dropped meanwhile): never spin
            await asyncio.sleep(0.05)
            return
        # sends of these records that timed out may still be answered: wait, then skip those
        late = {id(f): f for r in records if (f := self._late.get((r.segment, r.end)))}
        if late:
            await asyncio.wait(late.values(), timeout=s.request_timeout_ms / 1000)
        recs: list[Record] = []
        skipped = 0
        for r in self._pace.over(records):
            pos = (r.segment, r.end)
            if pos in self._delivered_late:
                self._delivered_late.discard(pos)
                skipped += 1
            elif pos in self._acked_resends:  # counted resent once confirmed
                self._acked_resends.discard(pos)
            else:
                headers, ts = event_headers_of(r.value)
                recs.append(ResentRecord(r.key, r.value, True, ts, headers, pos))
        if skipped:
            self.counters.add("late_acks", skipped)
            self.counters.add("resent", skipped)
        last, count = records[-1], len(records)
        if not recs:
            self.outbox.ack(last, count)
            return
        acked = False

        def finished(ok: bool) -> None:  # when the flight ends, even if cut short at stop
            nonlocal acked
            if ok:  # else the records stay in the outbox and are sent again
                acked = True
                self._acked_resends.difference_update(position_of(r) for r in recs)
                self.outbox.ack(last, count)

        try:
            task = self._launch(recs, on_done=finished)
            if task is not None:
                await asyncio.wait({task})
        finally:  # also when cancelled at stop: what was lent is pending again
            if not acked:
                self.outbox.give_back()
