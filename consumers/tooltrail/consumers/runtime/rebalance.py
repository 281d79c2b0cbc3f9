"""What a group member does when its partitions are revoked or assigned."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import ConsumerRebalanceListener, TopicPartition

from tooltrail.consumers.runtime.member import MemberState
from tooltrail.consumers.sinks.base import Sink

log = logging.getLogger(__name__)


class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits what was written before giving partitions up; forgets their figures."""

    def __init__(self, member: MemberState, sink: Sink, sink_timeout_s: float) -> None:
        self.member = member
        self.sink = sink
        self.sink_timeout_s = sink_timeout_s

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Give up the batch in hand, commit what was written, then drop every pending offset.

        A commit that fails here is not kept for later: after a broker restart it would
        land on a new, shorter topic and skip its events. The next owner re-reads instead.
        """
        self.member.revoking()
        await self.member.commit()
        self.member.revoked()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Own the new partitions (their committed offsets are read by the watcher)."""
        member = self.member
        member.assign(assigned)
        try:  # another member may have written what we now own
            await asyncio.wait_for(self.sink.reload(), self.sink_timeout_s)
        except Exception as exc:  # noqa: BLE001 - the sink still dedupes what it remembers
            log.warning("sink reload failed", extra={"group": member.group, "error": repr(exc)})
        log.info(
            "partitions assigned",
            extra={"group": member.group, "partitions": sorted(member.assigned)},
        )
