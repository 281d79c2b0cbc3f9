"""``MemoryBroker``: the state one in-memory Kafka cluster keeps, and what tests do to it.

Clients call the data-plane methods (``metadata``, ``produce``, ``fetch``, ``group``…) under
``lock``; tests use the rest: create, delete or recreate a topic, restart the broker losing
everything (as Tansu's memory storage does), append hostile batches, read what a topic holds,
and flip the ``faults`` switches.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Sequence

from aiokafka.errors import OffsetOutOfRangeError, UnknownTopicOrPartitionError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from tooltrail.schemas.kafka.batches import (
    BatchTooLarge,
    ParsedRecord,
    RawRecord,
    encode_batch,
    inflate,
    read_header,
    read_records,
)
from tooltrail.schemas.kafka.memory.changes import Changes
from tooltrail.schemas.kafka.memory.faults import Faults
from tooltrail.schemas.kafka.memory.groups import Group
from tooltrail.schemas.kafka.memory.log import PartitionLog, Topic

NODE_ID = 1
_PARTITIONER = DefaultPartitioner()


class StalledWrite:
    """A produce request a stalled broker holds: written (or failed) on resume."""

    def __init__(self) -> None:
        self.done = False
        self.base_offset = -1
        self.error: Exception | None = None


class MemoryBroker:
    """One in-memory cluster (see module docstring).

    ``auto_create_partitions``: a metadata request for a missing topic creates it with that
    many partitions when the client allows it (Kafka's ``auto.create.topics.enable``);
    None: never. ``quiet_past_end``: a fetch past a partition's end gets no records and the
    end, where Kafka answers ``OffsetOutOfRange`` (a consumer then resets its position):
    what a consumer meets on a broker that does not say its offsets are out of range.
    """

    def __init__(self, name: str, *, auto_create_partitions: int | None = 1) -> None:
        self.name = name
        self.auto_create_partitions = auto_create_partitions
        self.quiet_past_end = False
        self.lock = threading.RLock()
        self.changes = Changes()
        self.faults = Faults(self.changes, self._write_stalled)
        self._stalled: list[tuple[TopicPartition, bytes, StalledWrite]] = []
        self.cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.restarts = 0
        self._topics: dict[str, Topic] = {}
        self._groups: dict[str, Group] = {}

    # --- topics -------------------------------------------------------------------------------
    def create_topic(
        self, name: str, partitions: int = 1, configs: dict[str, str] | None = None
    ) -> bool:
        """Create ``name`` if missing; True if created."""
        if partitions < 1:
            raise ValueError(f"a topic needs at least one partition, not {partitions}")
        with self.lock:
            if name in self._topics:
                return False
            self._topics[name] = Topic.create(name, partitions, configs)
        self.changes.notify()
        return True

    def delete_topic(self, name: str) -> bool:
        """Delete ``name`` and every group's offsets of it; True if it existed."""
        with self.lock:
            if self._topics.pop(name, None) is None:
                return False
            for group in self._groups.values():
                group.forget_topic(name)
        self.changes.notify()
        return True

    def recreate_topic(self, name: str) -> None:
        """Delete ``name`` and create it again at once: same partitions, new id, empty."""
        with self.lock:
            old = self._topics.get(name)
            if old is None:
                raise UnknownTopicOrPartitionError(name)
            self.delete_topic(name)
            self.create_topic(name, len(old.partitions), old.configs)

    def restart(self) -> None:
        """Restart losing everything: topics, offsets and groups (Tansu's memory storage)."""
        with self.lock:
            self._topics.clear()
            self._groups.clear()
            self.restarts += 1
        self.changes.notify()

    def topic_names(self) -> list[str]:
        """The topics there are now."""
        with self.lock:
            return sorted(self._topics)

    def topic_id(self, name: str) -> bytes | None:
        """The id of ``name`` (new on every creation), or None if it does not exist."""
        with self.lock:
            topic = self._topics.get(name)
            return None if topic is None else topic.id

    def topic_configs(self, name: str) -> dict[str, str]:
        """The configs ``name`` was created with."""
        with self.lock:
            return dict(self._topic(name).configs)

    def metadata(self, names: Sequence[str] | None, auto_create: bool) -> dict[str, int]:
        """Partition counts of ``names`` (all topics if None), creating missing ones if both
        the broker and the client allow it; missing topics are left out."""
        with self.lock:
            if names is None:
                return {n: len(t.partitions) for n, t in self._topics.items()}
            if auto_create and self.auto_create_partitions is not None:
                for name in names:
                    if name not in self._topics:
                        self.create_topic(name, self.auto_create_partitions)
            return {n: len(self._topics[n].partitions) for n in names if n in self._topics}

    # --- records ------------------------------------------------------------------------------
    def produce(self, tp: TopicPartition, batch: bytes) -> int:
        """Append one batch to ``tp``; the offset of its first record.

        Raises:
            UnknownTopicOrPartitionError: no such topic or partition.
            CorruptRecordException: not one whole v2 batch.
        """
        with self.lock:
            base = self._log(tp).append(batch)
        self.changes.notify()
        return base

    def append(
        self,
        topic: str,
        records: Sequence[RawRecord],
        *,
        partition: int | None = None,
        compression: str = "none",
    ) -> int:
        """Append ``records`` as one batch, as any producer could have written them (keyed
        like Kafka's default partitioner when ``partition`` is None); its first offset."""
        if partition is None:
            count = len(self._topic(topic).partitions)
            every = list(range(count))
            partition = _PARTITIONER(records[0].key, every, every) if records else 0
        return self.produce(
            TopicPartition(topic, partition), encode_batch(records, compression=compression)
        )

    def fetch(self, tp: TopicPartition, offset: int, max_bytes: int) -> tuple[bytes, int]:
        """The batches from ``offset`` on (up to ``max_bytes``, at least one) and the high
        watermark.

        Raises:
            UnknownTopicOrPartitionError: no such topic or partition.
            OffsetOutOfRangeError: ``offset`` is past the end or before the start.
        """
        with self.lock:
            log = self._log(tp)
            if offset > log.end and self.quiet_past_end:
                return b"", log.end
            if not 0 <= offset <= log.end:
                raise OffsetOutOfRangeError({tp: offset})
            return log.read(offset, max_bytes), log.end

    def end_offset(self, tp: TopicPartition) -> int:
        """The high watermark of ``tp``."""
        with self.lock:
            return self._log(tp).end

    def offset_for_time(self, tp: TopicPartition, timestamp_ms: int) -> tuple[int, int] | None:
        """Kafka's answer to ``offsets_for_times``: the first record at or after the time."""
        with self.lock:
            return self._log(tp).offset_for_time(timestamp_ms)

    def records(self, topic: str) -> list[tuple[int, ParsedRecord]]:
        """Every record of ``topic`` as (partition, record), header names as bytes (tests)."""
        with self.lock:
            logs = list(enumerate(self._topic(topic).partitions))
            batches = [(p, b.data) for p, log in logs for b in log.batches]
        out = []
        for partition, data in batches:
            header = read_header(data)
            if header is None:
                continue
            try:
                out += [
                    (partition, r) for r in read_records(header, inflate(header, data, 1 << 30))
                ]
            except (BatchTooLarge, ValueError):
                continue
        return out

    def produce_when_resumed(self, tp: TopicPartition, batch: bytes) -> StalledWrite:
        """Queue a produce request that reached a stalled broker; written on ``resume``."""
        write = StalledWrite()
        with self.lock:
            self._stalled.append((tp, batch, write))
        return write

    def _write_stalled(self) -> None:
        with self.lock:
            queued, self._stalled = self._stalled, []
            for tp, batch, write in queued:
                try:
                    write.base_offset = self._log(tp).append(batch)
                except Exception as exc:  # noqa: BLE001 - the waiting client gets it
                    write.error = exc
                write.done = True

    # --- groups -------------------------------------------------------------------------------
    def group(self, group_id: str) -> Group:
        """The group ``group_id`` (created empty on first use)."""
        with self.lock:
            return self._groups.setdefault(group_id, Group(group_id))

    def has_group(self, group: Group) -> bool:
        """True while ``group`` is still this broker's (a restart forgets every group)."""
        with self.lock:
            return self._groups.get(group.group_id) is group

    def committed(self, group_id: str, tp: TopicPartition) -> int | None:
        """The offset ``group_id`` committed for ``tp`` (None: nothing)."""
        with self.lock:
            group = self._groups.get(group_id)
            found = None if group is None else group.committed.get(tp)
            return None if found is None else found.offset

    def group_offsets(
        self, group_id: str, partitions: Sequence[TopicPartition] | None
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """What an admin's ``list_consumer_group_offsets`` answers (-1: none for that one)."""
        with self.lock:
            group = self._groups.get(group_id)
            committed = {} if group is None else dict(group.committed)
        if partitions is None:
            return committed
        return {tp: committed.get(tp, OffsetAndMetadata(-1, "")) for tp in partitions}

    # --- helpers ------------------------------------------------------------------------------
    def _topic(self, name: str) -> Topic:
        topic = self._topics.get(name)
        if topic is None:
            raise UnknownTopicOrPartitionError(f"topic {name!r} does not exist")
        return topic

    def _log(self, tp: TopicPartition) -> PartitionLog:
        partitions = self._topic(tp.topic).partitions
        if not 0 <= tp.partition < len(partitions):
            raise UnknownTopicOrPartitionError(f"{tp.topic} has no partition {tp.partition}")
        log: PartitionLog = partitions[tp.partition]
        return log
