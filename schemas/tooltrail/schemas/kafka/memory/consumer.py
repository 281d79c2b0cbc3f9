"""``MemoryConsumer``: aiokafka's consumer API over an in-memory broker.

Records are read from the broker's stored batches and turned into ``ConsumerRecord``s by
aiokafka's own fetcher code (``MemoryRecords``, ``PartitionRecords``, looked up when used), so
what aiokafka does with a batch, the stand-in does: the same records, the same exceptions
(a header name that is not UTF-8 raises ``UnicodeDecodeError`` out of ``getmany`` every
time, the position left where that fetch began and what it read before the bad record
lost), and the same guards if tooltrail installs any. A subscribed consumer is a group
member (``membership``): its rebalance listener runs from a background task, as in
aiokafka, while ``getmany`` waits for the assignment. A fetch from a broker that is down,
stalled or timing out fetches returns nothing; a position out of range is reset as
``auto_offset_reset`` says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.consumer import fetcher as aiokafka_fetcher
from aiokafka.errors import (
    ConsumerStoppedError,
    IllegalOperation,
    IllegalStateError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
)
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

from tooltrail.schemas.kafka.memory.broker import MemoryBroker
from tooltrail.schemas.kafka.memory.client import MemoryClient, checked_options
from tooltrail.schemas.kafka.memory.membership import Membership

log = logging.getLogger(__name__)
Record: TypeAlias = "ConsumerRecord[Any, Any]"


@dataclass
class PartitionState:
    """Where a consumer is in one assigned partition."""

    position: int | None = None  # None: taken from the commit or the reset policy when needed
    highwater: int | None = None
    paused: bool = False


class MemoryConsumer:
    """An in-memory ``AIOKafkaConsumer`` (see module docstring)."""

    def __init__(self, broker: MemoryBroker, *topics: str, **options: Any) -> None:
        o = checked_options(AIOKafkaConsumer, topics, options)
        if o["auto_offset_reset"] not in ("earliest", "latest", "none"):
            raise ValueError(f"Unknown auto_offset_reset {o['auto_offset_reset']!r}")
        self.broker = broker
        self.group_id: str | None = o["group_id"]
        self._reset = o["auto_offset_reset"]
        self._timeout_s = o["request_timeout_ms"] / 1000
        self._partition_bytes = o["max_partition_fetch_bytes"]
        self._fetch_bytes = o["fetch_max_bytes"]
        self._poll_records = o["max_poll_records"]
        self._decoding = (o["key_deserializer"], o["value_deserializer"], o["check_crcs"])
        self._isolation = 1 if o["isolation_level"] == "read_committed" else 0  # as aiokafka
        self._client = MemoryClient(broker, self._timeout_s)
        self.assigned: dict[TopicPartition, PartitionState] = {}
        self.subscription: frozenset[str] | None = frozenset(o["topics"]) or None
        self.listener: ConsumerRebalanceListener | None = None
        self.membership = Membership(self, o["session_timeout_ms"] / 1000)
        self._known: dict[str, int] = {}  # partition counts last seen
        self._turn = 0
        self._started = self._closed = False

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect; a subscribed consumer with a group joins it."""
        await self._client.bootstrap()
        self._started = True
        self._refresh_metadata()
        if self.subscription and self.group_id is not None:
            self.membership.join()
        elif self.subscription:
            self._assign_all(self.subscription)

    async def stop(self) -> None:
        """Leave the group and close."""
        if self._closed:
            return
        self._closed = True
        await self.membership.close()
        await self._client.close()

    # --- assignment ---------------------------------------------------------------------------
    def subscribe(
        self,
        topics: Iterable[str] = (),
        pattern: str | None = None,
        listener: ConsumerRebalanceListener | None = None,
    ) -> None:
        """Subscribe to ``topics`` (a group consumer joins its group)."""
        topics = frozenset(topics)
        if pattern is not None or not topics:
            raise TypeError("You should provide `topics` (patterns are not supported here)")
        if listener is not None and not isinstance(listener, ConsumerRebalanceListener):
            raise TypeError(
                f"listener should be an instance of ConsumerRebalanceListener, not {listener!r}"
            )
        self.subscription, self.listener = topics, listener
        if self._started and self.group_id is not None:
            self.membership.join()
        elif self._started:
            self._assign_all(topics)

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Read exactly ``partitions``, with no group membership."""
        self.subscription = None
        self.assigned = {tp: PartitionState() for tp in partitions}

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer reads now."""
        return set(self.assigned)

    def assign_from_group(self, partitions: Iterable[TopicPartition]) -> None:
        """Take the partitions the group gave this member (positions from the commits)."""
        self.assigned = {tp: PartitionState() for tp in sorted(partitions)}

    def _assign_all(self, topics: Iterable[str]) -> None:
        counts = self.broker.metadata(sorted(topics), auto_create=False)
        self.assigned = {
            TopicPartition(t, p): PartitionState() for t, n in counts.items() for p in range(n)
        }

    def pause(self, *partitions: TopicPartition) -> None:
        """Stop fetching ``partitions`` until resumed."""
        for tp in partitions:
            self._state(tp).paused = True

    def resume(self, *partitions: TopicPartition) -> None:
        """Fetch ``partitions`` again."""
        for tp in partitions:
            self._state(tp).paused = False

    def paused(self) -> set[TopicPartition]:
        """The paused partitions."""
        return {tp for tp, s in self.assigned.items() if s.paused}

    # --- fetching -----------------------------------------------------------------------------
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]:
        """Records per partition, waiting up to ``timeout_ms`` for the first (see module
        docstring); waits for the group's assignment first, as aiokafka does."""
        self._check_open()
        await self.membership.wait_for_assignment()
        deadline = time.monotonic() + timeout_ms / 1000
        limit = max_records or self._poll_records
        while True:
            seen = self.broker.changes.version
            found = self._fetch(set(partitions), limit)
            left = deadline - time.monotonic()
            if found or left <= 0 or self._closed:
                return found
            await self.broker.changes.wait(seen, left)

    def _fetch(
        self, only: set[TopicPartition], limit: int | None
    ) -> dict[TopicPartition, list[Record]]:
        faults = self.broker.faults
        if faults.down or faults.stalled or "fetch" in faults.timing_out:
            return {}
        order = sorted(self.assigned)
        self._turn += 1
        order = order[self._turn % len(order) :] + order[: self._turn % len(order)] if order else []
        out: dict[TopicPartition, list[Record]] = {}
        budget = self._fetch_bytes
        for tp in order:
            state = self.assigned.get(tp)
            if state is None or state.paused or (only and tp not in only) or budget <= 0:
                continue
            room = None if limit is None else limit - sum(len(v) for v in out.values())
            if room is not None and room <= 0:
                break
            records, size = self._fetch_partition(
                tp, state, room, min(budget, self._partition_bytes)
            )
            budget -= size
            if records:
                out[tp] = records
        return out

    def _fetch_partition(
        self, tp: TopicPartition, state: PartitionState, room: int | None, max_bytes: int
    ) -> tuple[list[Record], int]:
        try:
            position = self._position(tp, state)
            try:
                data, state.highwater = self.broker.fetch(tp, position, max_bytes)
            except OffsetOutOfRangeError:  # reset as the policy says, and fetch from there
                position = state.position = self._reset_offset(tp)
                data, state.highwater = self.broker.fetch(tp, position, max_bytes)
        except UnknownTopicOrPartitionError:
            return [], 0
        if not data:
            return [], 0
        key_deserializer, value_deserializer, check_crcs = self._decoding
        batches = aiokafka_fetcher.MemoryRecords(data)
        records = aiokafka_fetcher.PartitionRecords(
            tp,
            batches,
            None,
            position,
            key_deserializer,
            value_deserializer,
            check_crcs,
            self._isolation,
        )
        out: list[Record] = []
        for record in records:  # an error here leaves the position where this fetch began,
            out.append(record)  # as in aiokafka: what it read of the partition is lost
            if room is not None and len(out) >= room:
                break
        state.position = records.next_fetch_offset
        return out, len(data)

    def _position(self, tp: TopicPartition, state: PartitionState) -> int:
        if state.position is None:
            committed = None
            if self.group_id is not None:
                committed = self.broker.committed(self.group_id, tp)
            state.position = committed if committed is not None else self._reset_offset(tp)
        return state.position

    def _reset_offset(self, tp: TopicPartition) -> int:
        if self._reset == "none":
            raise NoOffsetForPartitionError(tp)
        return 0 if self._reset == "earliest" else self.broker.end_offset(tp)

    def highwater(self, tp: TopicPartition) -> int | None:
        """The end of ``tp`` as the last fetch saw it (None before any)."""
        return self._state(tp).highwater

    def last_stable_offset(self, tp: TopicPartition) -> int | None:
        """Without transactions, the high watermark."""
        return self.highwater(tp)

    # --- positions and commits ----------------------------------------------------------------
    async def position(self, tp: TopicPartition) -> int:
        """The offset of the next record this consumer reads from ``tp``."""
        self._check_open()
        return self._position(tp, self._state(tp))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` next."""
        if not isinstance(offset, int) or offset < 0:
            raise ValueError("Offset must be a positive integer")
        self._state(tp).position = offset

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Read ``partitions`` (default: all assigned) from their start."""
        for tp in partitions or tuple(self.assigned):
            self._state(tp).position = 0

    async def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Read ``partitions`` (default: all assigned) from their end."""
        for tp in partitions or tuple(self.assigned):
            self._state(tp).position = self.broker.end_offset(tp)

    async def commit(self, offsets: dict[TopicPartition, Any] | None = None) -> None:
        """Commit ``offsets`` (default: the current positions) for the group.

        Raises:
            IllegalOperation: no group. CommitFailedError: not a member of this generation.
            KafkaConnectionError, RequestTimedOutError: as the broker's faults say.
        """
        self._check_open()
        if self.group_id is None:
            raise IllegalOperation("Requires group_id")
        if offsets is None:
            offsets = {tp: s.position for tp, s in self.assigned.items() if s.position is not None}
        plain = {
            tp: (o.offset if isinstance(o, OffsetAndMetadata) else int(o))
            for tp, o in offsets.items()
        }
        await self.broker.faults.admit("commit", self._timeout_s)
        self.membership.commit(plain)

    async def committed(self, tp: TopicPartition) -> int | None:
        """The group's committed offset of ``tp`` (None: nothing committed)."""
        self._check_open()
        if self.group_id is None:
            raise IllegalOperation("Requires group_id")
        await self.broker.faults.admit("offsets", self._timeout_s)
        return self.broker.committed(self.group_id, tp)

    # --- metadata -----------------------------------------------------------------------------
    async def topics(self) -> set[str]:
        """Every topic of the cluster (a fresh metadata request)."""
        self._check_open()
        await self.broker.faults.admit("metadata", self._timeout_s)
        self._refresh_metadata()
        return set(self._known)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        """The partitions of ``topic`` as last seen (None: unknown)."""
        if topic not in self._known:
            self._refresh_metadata()
        count = self._known.get(topic)
        return None if count is None else set(range(count))

    def _refresh_metadata(self) -> None:
        faults = self.broker.faults
        if not (faults.down or faults.stalled or "metadata" in faults.timing_out):
            self._known = self.broker.metadata(None, auto_create=False)

    async def beginning_offsets(
        self, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """The first offset of each partition (0: nothing is ever trimmed here)."""
        await self.broker.faults.admit("offsets", self._timeout_s)
        return {tp: 0 for tp in partitions if self.broker.end_offset(tp) >= 0}

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The high watermark of each partition."""
        await self.broker.faults.admit("offsets", self._timeout_s)
        return {tp: self.broker.end_offset(tp) for tp in partitions}

    async def offsets_for_times(
        self, timestamps: dict[TopicPartition, int]
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """The first record at or after each time (None: none), as Kafka answers."""
        await self.broker.faults.admit("offsets", self._timeout_s)
        out: dict[TopicPartition, OffsetAndTimestamp | None] = {}
        for tp, ts in timestamps.items():
            found = self.broker.offset_for_time(tp, ts)
            out[tp] = None if found is None else OffsetAndTimestamp(*found)
        return out

    # --- helpers ------------------------------------------------------------------------------
    def _state(self, tp: TopicPartition) -> PartitionState:
        state = self.assigned.get(tp)
        if state is None:
            raise IllegalStateError(f"No current assignment for partition {tp}")
        return state

    def _check_open(self) -> None:
        if self._closed:
            raise ConsumerStoppedError()
        if not self._started:
            raise IllegalStateError("the consumer is not started")
