"""``Watcher``: what a group member checks beside its loop, every ``TOOLTRAIL_LAG_INTERVAL_S``.

* the true end of the owned partitions (``LagProbe``) and their committed offsets, so the
  lag gauge keeps moving while the group is paused or a write hangs;
* that the pipeline's topics still exist; a broker restarted without storage forgets them,
  and they are created again with the configured partitions;
* the member's status on the status topic (on change, and every status interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiokafka import TopicPartition

from tooltrail.consumers.kafka.lag import LagProbe
from tooltrail.consumers.kafka.topics import ensure_pipeline_topics
from tooltrail.consumers.observability.status import StatusReporter
from tooltrail.schemas.aio import cancelled_here

if TYPE_CHECKING:
    from tooltrail.consumers.runtime.runner import GroupRunner

log = logging.getLogger(__name__)


class Watcher:
    """The side checks of one group member (see module docstring)."""

    def __init__(self, runner: GroupRunner, reporter: StatusReporter) -> None:
        self.runner = runner
        self.reporter = reporter
        s = runner.settings
        self.probe = LagProbe(s.kafka_kwargs(), s.events_topic, s.kafka_timeout_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Check every interval until ``stop``; never raises."""
        interval = self.runner.settings.lag_interval_s
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def tick(self) -> None:
        """One round of checks; failures are logged, never raised."""
        runner, s = self.runner, self.runner.settings
        try:
            await self._topics()
            await self._committed()
            owned = set(runner.assigned)
            ends = await self.probe.highwater(owned)
            runner.stats.highwater.update({p: hw for p, hw in ends.items() if p in runner.assigned})
        except (Exception, asyncio.CancelledError) as exc:  # the next tick retries
            if isinstance(exc, asyncio.CancelledError) and cancelled_here():
                raise  # stopping; a stray one (aiokafka re-raising its own) is just a failure
            log.warning("watch tick failed", extra={"group": runner.group, "error": repr(exc)})
            await self.probe.close()
        await self.reporter.report(runner.stats, s.status_interval_s)

    async def _topics(self) -> None:
        s = self.runner.settings
        wanted = {s.events_topic, s.dlq_topic, s.status_topic}
        if wanted - await self.probe.topics():
            created = await ensure_pipeline_topics(s)
            if created:
                log.warning(
                    "topics were missing and have been created again",
                    extra={"group": self.runner.group, "topics": created},
                )

    async def _committed(self) -> None:
        runner = self.runner
        consumer = runner.consumer
        if consumer is None:
            return
        for p in sorted(runner.assigned - set(runner.stats.committed)):
            tp = TopicPartition(runner.settings.events_topic, p)
            offset = await asyncio.wait_for(consumer.committed(tp), runner.settings.kafka_timeout_s)
            if p in runner.assigned:
                runner.stats.committed[p] = offset or 0

    async def close(self) -> None:
        """Stop the lag probe."""
        await self.probe.close()
