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

from aiokafka import TopicPartition

from tooltrail.consumers.kafka.lag import LagProbe
from tooltrail.consumers.kafka.topics import ensure_pipeline_topics
from tooltrail.consumers.observability.status import StatusReporter
from tooltrail.consumers.runtime.member import MemberState
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.aio import cancelled_here

log = logging.getLogger(__name__)


class Watcher:
    """The side checks of one group member (see module docstring)."""

    def __init__(
        self, member: MemberState, settings: WorkerSettings, reporter: StatusReporter
    ) -> None:
        self.member = member
        self.settings = settings
        self.reporter = reporter
        s = settings
        self.probe = LagProbe(s.kafka_kwargs(), s.events_topic, s.kafka_timeout_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Check every interval until ``stop``; never raises."""
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.lag_interval_s)

    async def tick(self) -> None:
        """One round of checks; failures are logged, never raised."""
        member = self.member
        try:
            await self._topics()
            await self._committed()
            member.probed(await self.probe.highwater(set(member.assigned)))
        except (Exception, asyncio.CancelledError) as exc:  # the next tick retries
            if isinstance(exc, asyncio.CancelledError) and cancelled_here():
                raise  # stopping; a stray one (aiokafka re-raising its own) is just a failure
            log.warning("watch tick failed", extra={"group": member.group, "error": repr(exc)})
            await self.probe.close()
        await self.reporter.report(member.stats, self.settings.status_interval_s)

    async def _topics(self) -> None:
        s = self.settings
        wanted = {s.events_topic, s.dlq_topic, s.status_topic}
        if wanted - await self.probe.topics():
            created = await ensure_pipeline_topics(s)
            if created:
                log.warning(
                    "topics were missing and have been created again",
                    extra={"group": self.member.group, "topics": created},
                )

    async def _committed(self) -> None:
        member = self.member
        consumer = member.consumer
        if consumer is None:
            return
        for p in member.commit_unknown():
            tp = TopicPartition(self.settings.events_topic, p)
            offset = await asyncio.wait_for(consumer.committed(tp), self.settings.kafka_timeout_s)
            member.committed_was(p, offset)

    async def close(self) -> None:
        """Stop the lag probe."""
        await self.probe.close()
