"""Explicit topic creation; topics are never created by the broker on a client's request.

Tansu auto-creates a topic with 4 partitions when a client merely asks for its metadata, and
its memory storage forgets every topic on restart. So workers ask for metadata with
``allow_auto_topic_creation=false`` (``disable_auto_creation``), notice when a topic is gone
and create it again with the configured partitions (``ensure_topics``). Every creation is
counted (``creations``): a group whose topic was created again must not go on reading it at
the positions it had in the old one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import NewTopic

from tooltrail.consumers.errors import ConsumerError
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.aio import settle
from tooltrail.schemas.kafka.clients import kafka_admin
from tooltrail.schemas.kafka.meta import disable_auto_creation

__all__ = [
    "TopicSpec",
    "creations",
    "disable_auto_creation",
    "ensure_pipeline_topics",
    "ensure_topics",
    "pipeline_topics",
    "topics_for",
]
log = logging.getLogger(__name__)
_EXISTS = 36
_creations: dict[str, int] = {}


def creations(topic: str) -> int:
    """How many times this process has created ``topic`` (see ``GroupRunner.recreated``)."""
    return _creations.get(topic, 0)


@dataclass(frozen=True)
class TopicSpec:
    """A topic to ensure: name, partitions, replication and configs."""

    name: str
    partitions: int
    replication: int = 1
    configs: dict[str, str] = field(default_factory=dict)


async def ensure_topics(
    kafka_kwargs: dict[str, Any], specs: list[TopicSpec], wait_s: float = 15.0
) -> list[str]:
    """Create each missing topic; return the names created. Existing topics are left alone.

    Raises:
        ConsumerError: if the broker refuses a topic for another reason than "exists".
        KafkaError, OSError, TimeoutError: the broker is unreachable (the caller retries).
    """
    admin = kafka_admin(kafka_kwargs, request_timeout_ms=int(wait_s * 1000))
    try:
        async with asyncio.timeout(wait_s):
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [s for s in specs if s.name not in existing]
            if not wanted:
                return []
            response = await admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, s.replication, topic_configs=s.configs)
                    for s in wanted
                ]
            )
    finally:
        await settle(admin.close(), wait_s)
    created = []
    for name, code, *rest in response.topic_errors:
        if code == 0:
            created.append(name)
        elif code != _EXISTS:
            raise ConsumerError(
                f"cannot create topic {name!r}: error {code} {rest[0] if rest else ''}"
            )
    for name in created:
        _creations[name] = _creations.get(name, 0) + 1
    if created:
        log.info("topics created", extra={"topics": created})
    return created


def pipeline_topics(
    events: str,
    dlq: str,
    enrichment: str,
    partitions: int,
    replication: int,
    status: str | None = None,
) -> list[TopicSpec]:
    """The topics of the pipeline: events, dead letters, compacted enrichment (and status).

    With replication 3 or more, ``min.insync.replicas`` is 2: an ``acks=all`` write survives
    the loss of one broker and is refused rather than kept on a single copy.
    """
    durable = {"min.insync.replicas": "2"} if replication >= 3 else {}
    specs = [
        TopicSpec(events, partitions, replication, dict(durable)),
        TopicSpec(dlq, 1 if partitions < 3 else 3, replication, dict(durable)),
        TopicSpec(enrichment, partitions, replication, {"cleanup.policy": "compact", **durable}),
    ]
    if status is not None:
        specs.append(TopicSpec(status, 1, replication, {"cleanup.policy": "compact", **durable}))
    return specs


def topics_for(settings: WorkerSettings) -> list[TopicSpec]:
    """Every topic the workers of these settings read or write."""
    return pipeline_topics(
        settings.events_topic,
        settings.dlq_topic,
        settings.enrichment_topic,
        settings.topic_partitions,
        settings.topic_replication,
        settings.status_topic,
    )


async def ensure_pipeline_topics(settings: WorkerSettings) -> list[str]:
    """``ensure_topics`` for ``topics_for(settings)`` with the settings' Kafka timeout."""
    return await ensure_topics(
        settings.kafka_kwargs(), topics_for(settings), settings.kafka_timeout_s
    )
