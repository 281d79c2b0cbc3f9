"""Consumer groups as a Kafka group coordinator keeps them: members, generations, commits.

A change of membership (a member joins or leaves, a subscribed topic appears, goes or
changes its partitions) starts a rebalance: the group waits until every member has given up
its partitions and rejoined (its rebalance listener's ``on_partitions_revoked`` has run),
or until the longest session timeout of its members has passed (the others are dropped),
then opens the next generation with a round-robin assignment. Generations start at 1, as
on Kafka. A commit is accepted from a member of the current generation (also while a
rebalance is being prepared, as Kafka does), and from a group-less client only while the
group has no members; anything else is a ``CommitFailedError``. Callers hold the broker's
lock.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from aiokafka.errors import CommitFailedError
from aiokafka.structs import OffsetAndMetadata, TopicPartition


@dataclass
class MemberInfo:
    """What the coordinator knows of one member."""

    topics: frozenset[str]
    session_s: float


@dataclass
class Group:
    """One consumer group (see module docstring)."""

    group_id: str
    generation: int = 0
    members: dict[str, MemberInfo] = field(default_factory=dict)
    preparing: bool = False
    rejoined: set[str] = field(default_factory=set)
    assignment: dict[str, frozenset[TopicPartition]] = field(default_factory=dict)
    committed: dict[TopicPartition, OffsetAndMetadata] = field(default_factory=dict)
    deadline: float = 0.0
    _partitions_seen: dict[str, int] = field(default_factory=dict)

    def join(self, topics: frozenset[str], session_s: float) -> str:
        """A new member; returns its id (it counts as rejoined in the coming rebalance)."""
        member_id = f"{self.group_id}-{uuid.uuid4()}"  # as Kafka: unique across restarts
        self.members[member_id] = MemberInfo(topics, session_s)
        self.prepare()
        self.rejoined.add(member_id)
        return member_id

    def leave(self, member_id: str) -> None:
        """A member left (a clean stop, or it was dropped)."""
        if self.members.pop(member_id, None) is not None:
            self.rejoined.discard(member_id)
            self.assignment.pop(member_id, None)
            self.prepare()

    def prepare(self) -> None:
        """Start (or restart) a rebalance: every member must rejoin."""
        self.preparing = True
        self.rejoined = set()
        longest = max((m.session_s for m in self.members.values()), default=0.0)
        self.deadline = time.monotonic() + longest

    def rejoin(self, member_id: str) -> None:
        """A member gave up its partitions and asks for the next generation."""
        if member_id in self.members and self.preparing:
            self.rejoined.add(member_id)

    def advance(self, partitions: dict[str, int]) -> bool:
        """Finish a rebalance that is ready (or timed out); True if a generation opened.

        ``partitions`` is the partition count of every existing topic; a change in those
        of the subscribed topics starts a rebalance first.
        """
        wanted = {t for m in self.members.values() for t in m.topics}
        seen = {t: partitions.get(t, 0) for t in sorted(wanted)}
        if seen != self._partitions_seen and self.members and not self.preparing:
            self.prepare()
        if not self.preparing:
            return False
        if self.rejoined < set(self.members) and time.monotonic() < self.deadline:
            return False
        for late in set(self.members) - self.rejoined:  # session over: dropped
            self.members.pop(late)
        self._partitions_seen = seen
        self.generation += 1
        self.preparing = False
        self.assignment = self._round_robin(seen)
        return True

    def _round_robin(self, counts: dict[str, int]) -> dict[str, frozenset[TopicPartition]]:
        """aiokafka's default: partitions in order dealt to the subscribed members in turn."""
        out: dict[str, set[TopicPartition]] = {m: set() for m in self.members}
        ids = sorted(self.members)
        turn = 0
        for topic, count in sorted(counts.items()):
            takers = [m for m in ids if topic in self.members[m].topics]
            for p in range(count):
                out[takers[turn % len(takers)]].add(TopicPartition(topic, p))
                turn += 1
        return {m: frozenset(tps) for m, tps in out.items()}

    def commit(
        self, member_id: str | None, generation: int, offsets: dict[TopicPartition, int]
    ) -> None:
        """Store ``offsets`` (see module docstring for who may).

        Raises:
            CommitFailedError: the committer is not a member of the current generation.
        """
        if member_id is None:
            if self.members:
                raise CommitFailedError("the group has active members; a group-less commit")
        elif member_id not in self.members or generation != self.generation:
            raise CommitFailedError(
                "the group rebalanced or this member was removed: its offsets were not stored"
            )
        for tp, offset in offsets.items():
            self.committed[tp] = OffsetAndMetadata(offset, "")

    def forget_topic(self, topic: str) -> None:
        """A deleted topic's offsets go with it (Kafka removes them)."""
        self.committed = {tp: o for tp, o in self.committed.items() if tp.topic != topic}
