"""What a group member does when its partitions are revoked or assigned."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiokafka import ConsumerRebalanceListener, TopicPartition

if TYPE_CHECKING:
    from tooltrail.consumers.runtime.runner import GroupRunner

log = logging.getLogger(__name__)


class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits what was written before giving partitions up; forgets their figures."""

    def __init__(self, runner: GroupRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Commit what was written, then drop every pending offset.

        A commit that fails here is not kept for later: after a broker restart it would
        land on a new, shorter topic and skip its events. The next owner re-reads instead.
        """
        runner = self.runner
        runner.rebalances += 1
        runner.assigned = set()
        await runner.commit_pending()
        runner.drop_pending()
        runner.stats.own(set(), {})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        """Own the new partitions (their committed offsets are read by the watcher)."""
        runner = self.runner
        runner.rebalances += 1
        runner.assigned = {tp.partition for tp in assigned}
        runner.stats.own(runner.assigned, {})
        try:  # another member may have written what we now own
            await asyncio.wait_for(runner.sink.reload(), runner.settings.sink_timeout_s)
        except Exception as exc:  # noqa: BLE001 - the sink still dedupes what it remembers
            log.warning("sink reload failed", extra={"group": runner.group, "error": repr(exc)})
        log.info(
            "partitions assigned",
            extra={"group": runner.group, "partitions": sorted(runner.assigned)},
        )
