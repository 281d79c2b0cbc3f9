"""Explicit topic creation (never rely on broker auto-creation: Tansu gives 4 partitions)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from consumers.errors import ConsumerError

log = logging.getLogger(__name__)
_EXISTS = 36


@dataclass(frozen=True)
class TopicSpec:
    """A topic to ensure: name, partitions, replication and configs."""

    name: str
    partitions: int
    replication: int = 1
    configs: dict[str, str] = field(default_factory=dict)


async def ensure_topics(kafka_kwargs: dict[str, Any], specs: list[TopicSpec]) -> list[str]:
    """Create each missing topic; return the names created. Existing topics are left alone.

    Raises:
        ConsumerError: if the broker refuses a topic for another reason than "exists".
    """
    admin = AIOKafkaAdminClient(request_timeout_ms=10_000, **kafka_kwargs)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [s for s in specs if s.name not in existing]
        if not wanted:
            return []
        topics = [
            NewTopic(s.name, s.partitions, s.replication, topic_configs=s.configs) for s in wanted
        ]
        response = await admin.create_topics(topics)
        created = []
        for name, code, *rest in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != _EXISTS:
                message = rest[0] if rest else ""
                raise ConsumerError(f"cannot create topic {name!r}: error {code} {message}")
        log.info("topics created", extra={"topics": created})
        return created
    finally:
        await admin.close()


def pipeline_topics(
    events: str, dlq: str, enrichment: str, partitions: int, replication: int
) -> list[TopicSpec]:
    """The three topics of the pipeline, with the enrichment topic compacted.

    With replication 3 or more, ``min.insync.replicas`` is 2: an ``acks=all`` write survives
    the loss of one broker and is refused rather than kept on a single copy.
    """
    durable = {"min.insync.replicas": "2"} if replication >= 3 else {}
    return [
        TopicSpec(events, partitions, replication, dict(durable)),
        TopicSpec(dlq, 1 if partitions < 3 else 3, replication, dict(durable)),
        TopicSpec(enrichment, partitions, replication, {"cleanup.policy": "compact", **durable}),
    ]
