"""``MemoryAdmin``: the part of aiokafka's admin client tooltrail uses, over an in-memory broker.

``create_topics`` and ``delete_topics`` answer like aiokafka (a response whose
``topic_errors`` / ``topic_error_codes`` carry Kafka's error codes: 36 exists, 3 unknown,
37 invalid partitions) rather than raising; every call meets the broker's faults as an
``admin`` request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IllegalStateError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from tooltrail.schemas.kafka.memory.broker import MemoryBroker
from tooltrail.schemas.kafka.memory.client import MemoryClient, checked_options

_EXISTS, _UNKNOWN, _INVALID_PARTITIONS = 36, 3, 37


@dataclass(frozen=True)
class CreateTopicsResponse:
    """What ``create_topics`` returns: ``(name, error code, message)`` per topic."""

    topic_errors: list[tuple[str, int, str | None]]


@dataclass(frozen=True)
class DeleteTopicsResponse:
    """What ``delete_topics`` returns: ``(name, error code)`` per topic."""

    topic_error_codes: list[tuple[str, int]]


class MemoryAdmin:
    """An in-memory ``AIOKafkaAdminClient`` (see module docstring)."""

    def __init__(self, broker: MemoryBroker, **options: Any) -> None:
        o = checked_options(AIOKafkaAdminClient, (), options)
        self.broker = broker
        self._timeout_s = o["request_timeout_ms"] / 1000
        self._client = MemoryClient(broker, self._timeout_s)
        self._started = False

    async def start(self) -> None:
        """Connect (``KafkaConnectionError`` while the broker is down)."""
        await self._client.bootstrap()
        self._started = True

    async def close(self) -> None:
        """Close the client."""
        self._started = False
        await self._client.close()

    async def _admit(self) -> None:
        if not self._started:
            raise IllegalStateError("the admin client is not started")
        await self.broker.faults.admit("admin", self._timeout_s)

    async def list_topics(self) -> list[str]:
        """The names of every topic."""
        await self._admit()
        return self.broker.topic_names()

    async def create_topics(
        self,
        new_topics: Sequence[NewTopic],
        timeout_ms: int | None = None,
        validate_only: bool = False,
    ) -> CreateTopicsResponse:
        """Create each topic; the per-topic error codes (0: created)."""
        await self._admit()
        out: list[tuple[str, int, str | None]] = []
        for topic in new_topics:
            if topic.num_partitions < 1:
                out.append(
                    (topic.name, _INVALID_PARTITIONS, "Number of partitions must be larger than 0.")
                )
            elif validate_only:
                exists = topic.name in self.broker.topic_names()
                out.append((topic.name, _EXISTS if exists else 0, None))
            elif self.broker.create_topic(
                topic.name, topic.num_partitions, dict(topic.topic_configs or {})
            ):
                out.append((topic.name, 0, None))
            else:
                out.append((topic.name, _EXISTS, "Topic with this name already exists."))
        return CreateTopicsResponse(out)

    async def delete_topics(
        self, topics: Sequence[str], timeout_ms: int | None = None
    ) -> DeleteTopicsResponse:
        """Delete each topic; the per-topic error codes (3: it did not exist)."""
        await self._admit()
        return DeleteTopicsResponse(
            [(t, 0 if self.broker.delete_topic(t) else _UNKNOWN) for t in topics]
        )

    async def list_consumer_group_offsets(
        self,
        group_id: str,
        group_coordinator_id: int | None = None,
        partitions: Sequence[TopicPartition] | None = None,
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """The group's committed offsets (offset -1: none for an asked partition)."""
        await self._admit()
        return self.broker.group_offsets(group_id, partitions)

    async def describe_topics(self, topics: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Each topic's partitions, in the shape aiokafka's response dicts have."""
        await self._admit()
        counts = self.broker.metadata(
            list(topics) if topics is not None else None, auto_create=False
        )
        names = list(topics) if topics is not None else sorted(counts)
        return [
            {
                "error_code": 0 if name in counts else _UNKNOWN,
                "topic": name,
                "is_internal": False,
                "partitions": [
                    {"error_code": 0, "partition": p, "leader": 1, "replicas": [1], "isr": [1]}
                    for p in range(counts.get(name, 0))
                ],
            }
            for name in names
        ]
