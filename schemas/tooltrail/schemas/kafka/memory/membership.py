"""``Membership``: one consumer's part in its group, run by a background task as aiokafka's
group coordinator does.

The task watches the group: when a rebalance is prepared it runs the listener's
``on_partitions_revoked`` (the partitions stay assigned while it runs, so it can still
commit them) and rejoins; when the next generation opens it takes its partitions and runs
``on_partitions_assigned``. A member whose group the broker forgot (a restart) revokes and
joins again. While the broker is down or stalled nothing changes (heartbeats go unanswered).
Listener errors are logged, never raised, as in aiokafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiokafka.errors import CommitFailedError
from aiokafka.structs import TopicPartition

from tooltrail.schemas.kafka.memory.groups import Group

if TYPE_CHECKING:
    from tooltrail.schemas.kafka.memory.consumer import MemoryConsumer

log = logging.getLogger(__name__)
_TICK_S = 0.05  # how often a member looks at rebalance deadlines without a change


class Membership:
    """The group membership of one consumer (see module docstring)."""

    def __init__(self, consumer: MemoryConsumer, session_s: float) -> None:
        self.consumer = consumer
        self.broker = consumer.broker
        self.session_s = session_s
        self.group: Group | None = None
        self.member_id: str | None = None
        self.generation = -1
        self.rebalancing = False  # between joining and the next assignment
        self._task: asyncio.Task[None] | None = None

    def join(self) -> None:
        """Join (or join again) the consumer's group with its subscription."""
        consumer, broker = self.consumer, self.broker
        group_id, topics = consumer.group_id, consumer.subscription
        if group_id is None or not topics:
            raise ValueError("only a consumer with a group and a subscription joins a group")
        with broker.lock:
            if self.group is not None and self.member_id is not None:
                self.group.leave(self.member_id)
            self.group = broker.group(group_id)
            self.member_id = self.group.join(topics, self.session_s)
            self.generation = -1
        self.rebalancing = True
        broker.changes.notify()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait_for_assignment(self) -> None:
        """Return once this member has its partitions (at once if it is in no group)."""
        while self.rebalancing and not self.consumer._closed:
            seen = self.broker.changes.version
            await self.broker.changes.wait(seen, _TICK_S)

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Store ``offsets`` as this member (or as a group-less client).

        Raises:
            CommitFailedError: not a member of the group's current generation.
        """
        broker, group_id = self.broker, self.consumer.group_id
        assert group_id is not None  # noqa: S101 - the consumer checked it
        with broker.lock:
            if self.member_id is None:
                broker.group(group_id).commit(None, -1, offsets)
                return
            if self.group is None or not broker.has_group(self.group):
                raise CommitFailedError("this member's group is gone (the broker restarted)")
            self.group.commit(self.member_id, self.generation, offsets)

    async def close(self) -> None:
        """Stop the task and leave the group."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with self.broker.lock:
            if self.group is not None and self.member_id is not None:
                self.group.leave(self.member_id)
            self.member_id = None
        self.broker.changes.notify()

    # --- the task -----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            seen = self.broker.changes.version
            try:
                await self._step()
            except Exception:  # a member never dies of its own bookkeeping
                log.exception("in-memory group member failed a step", extra={"group": self._id()})
            await self.broker.changes.wait(seen, _TICK_S)

    def _id(self) -> str | None:
        return self.consumer.group_id

    async def _step(self) -> None:
        faults = self.broker.faults
        if faults.down or faults.stalled:
            return
        action = self._next()
        if action == "revoke":
            await self._revoke()
            with self.broker.lock:
                if self.group is not None and self.member_id is not None:
                    self.group.rejoin(self.member_id)
            self.broker.changes.notify()
        elif action == "assign":
            await self._assign()
        elif action == "lost":
            await self._revoke()
            self.join()

    def _next(self) -> str | None:
        broker, group = self.broker, self.group
        if group is None or self.member_id is None:
            return None
        with broker.lock:
            if not broker.has_group(group) or self.member_id not in group.members:
                return "lost"
            if group.advance(broker.metadata(None, auto_create=False)):
                broker.changes.notify()
            if group.preparing:
                return None if self.member_id in group.rejoined else "revoke"
            return "assign" if self.generation != group.generation else None

    async def _revoke(self) -> None:
        self.rebalancing = True
        await self._tell("on_partitions_revoked", set(self.consumer.assigned))

    async def _assign(self) -> None:
        group, member = self.group, self.member_id
        if group is None or member is None:
            return
        with self.broker.lock:
            self.generation = group.generation
            partitions = set(group.assignment.get(member, frozenset()))
        self.consumer.assign_from_group(partitions)
        self.rebalancing = False
        await self._tell("on_partitions_assigned", partitions)

    async def _tell(self, callback: str, partitions: set[TopicPartition]) -> None:
        listener = self.consumer.listener
        if listener is None:
            return
        try:
            result = getattr(listener, callback)(partitions)
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception(
                "User provided subscription listener %s for group %s failed %s",
                listener,
                self._id(),
                callback,
            )
