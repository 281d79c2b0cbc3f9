"""``MemberState``: the one owner of what a group member knows about its partitions.

The runner's loop, the rebalance listener and the watcher all change it, and only through
its methods: which partitions the member owns and how many rebalances it has seen, the offset
after the last record read per partition, the offsets written but not yet committed, and the
partition figures it publishes (``GroupStats.highwater`` / ``committed``).

* Offsets are committed only for partitions the consumer still owns, and a commit that fails
  is dropped, never retried: after a broker restart the topic may exist again, empty, and an
  old offset committed there would skip its first events. Its records are read again after
  the next rebalance or restart (sinks skip what they already hold).
* A topic created again (by this process's watcher, or elsewhere: a partition now shorter
  than what was read) is read from the start, and nothing read from the old one is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from tooltrail.consumers.kafka.topics import creations
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.schemas.aio import settle

log = logging.getLogger(__name__)


class MemberState:
    """What one member of a group knows of its partitions (see module docstring)."""

    def __init__(self, group: str, topic: str, stats: GroupStats, kafka_timeout_s: float) -> None:
        self.group = group
        self.topic = topic
        self.stats = stats
        self.kafka_timeout_s = kafka_timeout_s
        self.consumer: AIOKafkaConsumer | None = None
        self.assigned: frozenset[int] = frozenset()  # partitions owned now
        self.rebalances = 0  # a batch in hand is given up when this changes
        self._pending: dict[TopicPartition, int] = {}  # written, not committed
        self._next: dict[TopicPartition, int] = {}  # the offset after the last record read
        self._creations = 0  # creations of the topic accounted for

    # --- rebalances ---------------------------------------------------------------------------
    def revoking(self) -> None:
        """Partitions are being taken away: whatever is in hand is given up."""
        self.rebalances += 1
        self.assigned = frozenset()

    def revoked(self) -> None:
        """After the revocation's commit: nothing pending, no figures of the old partitions."""
        self.forget()
        self.stats.own(set(), {})

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """The member owns ``partitions`` now (their commits are read by the watcher)."""
        self.rebalances += 1
        self.assigned = frozenset(tp.partition for tp in partitions)
        self.stats.own(set(self.assigned), {})

    # --- reading ------------------------------------------------------------------------------
    def read(self, records: Iterable[Any]) -> None:
        """Note the offset after each record read (records in offset order per partition)."""
        for record in records:
            self._next[TopicPartition(record.topic, record.partition)] = record.offset + 1

    def shorter(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """Note each owned partition's end; the ones now shorter than what was read."""
        found = []
        for tp in consumer.assignment():
            hw = consumer.highwater(tp)
            if hw is None:
                continue
            self.stats.highwater[tp.partition] = hw
            if hw < self._next.get(tp, 0):
                found.append(tp)
        return found

    def probed(self, ends: dict[int, int]) -> None:
        """The watcher read these ends apart from the loop (kept for owned partitions)."""
        self.stats.highwater.update({p: hw for p, hw in ends.items() if p in self.assigned})

    def commit_unknown(self) -> list[int]:
        """Owned partitions whose committed offset is not known yet."""
        return sorted(self.assigned - set(self.stats.committed))

    def committed_was(self, partition: int, offset: int | None) -> None:
        """The group's committed offset of ``partition`` (read by the watcher)."""
        if partition in self.assigned:
            self.stats.committed[partition] = offset or 0

    # --- writing and committing ---------------------------------------------------------------
    def written(self, records: Iterable[Any]) -> None:
        """``records`` are durably written (or dead-lettered): commit past them next."""
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self._pending[tp] = max(self._pending.get(tp, 0), record.offset + 1)

    def forget(self) -> None:
        """Forget offsets read or written but not committed (their records are read again)."""
        self._pending.clear()
        self._next.clear()

    async def commit(self) -> None:
        """Commit the offsets written, for partitions still owned. Never raises."""
        consumer = self.consumer
        if not self._pending or consumer is None:
            return
        owned = consumer.assignment()
        offsets = {tp: off for tp, off in self._pending.items() if tp in owned}
        self._pending.clear()  # committed now, or dropped (see module docstring)
        if not offsets:
            return
        failure = await settle(consumer.commit(offsets), self.kafka_timeout_s)
        if failure is not None:
            log.warning(
                "commit failed; the next batch's commit covers it",
                extra={"group": self.group, "error": repr(failure)},
            )
            return
        for tp, off in offsets.items():
            self.stats.committed[tp.partition] = off

    # --- a topic created again ----------------------------------------------------------------
    def count_creations(self) -> None:
        """Take the topic's creations so far as known (at connect)."""
        self._creations = creations(self.topic)

    async def recreated(self, consumer: AIOKafkaConsumer) -> bool:
        """If this process created the topic again since, read it from the start; True if so."""
        now = creations(self.topic)
        if now == self._creations:
            return False
        self._creations = now
        await self.start_over(consumer, list(consumer.assignment()), "was created again")
        return True

    async def start_over(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition], why: str
    ) -> None:
        """Forget what was read and written, and read ``partitions`` from their start."""
        self.forget()
        if partitions:  # the reset is requested at once; waiting for it is only a courtesy
            failure = await settle(consumer.seek_to_beginning(*partitions), self.kafka_timeout_s)
            if failure is not None:
                log.warning(
                    "seek to the start failed", extra={"group": self.group, "error": repr(failure)}
                )
        owned = sorted(tp.partition for tp in partitions)
        log.warning(
            "events topic %s; reading it from the start",
            why,
            extra={"group": self.group, "partitions": owned},
        )
