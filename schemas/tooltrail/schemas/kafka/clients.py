"""Every Kafka client tooltrail makes is made here.

``kafka_producer``, ``kafka_consumer`` and ``kafka_admin`` build aiokafka's ``AIOKafkaProducer``,
``AIOKafkaConsumer`` and ``AIOKafkaAdminClient`` from a settings object's connection keywords
(``KafkaSettings.kafka_kwargs()``: bootstrap, TLS/SASL, client id) and the options of the
role. Nothing else in tooltrail calls those constructors, so what every client of a process
talks to is decided in one place: a bootstrap ``memory://<name>`` gives the in-memory
stand-ins of ``schemas.kafka.memory`` (same API, same errors) instead. Every consumer is
guarded (``schemas.kafka.guard``): no record breaks its fetches, and a compressed batch
inflates within ``max_batch_bytes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from tooltrail.schemas.kafka import guard

__all__ = ["kafka_admin", "kafka_consumer", "kafka_producer"]


def _in_memory(connection: Mapping[str, Any]) -> Any:
    """The in-memory broker named by ``memory://<name>``, or None (imported only then)."""
    bootstrap = connection.get("bootstrap_servers")
    if not (isinstance(bootstrap, str) and bootstrap.startswith("memory://")):
        return None
    from tooltrail.schemas.kafka import memory

    return memory.broker_of(dict(connection))


def kafka_producer(connection: Mapping[str, Any], **options: Any) -> AIOKafkaProducer:
    """A producer for ``connection`` (``kafka_kwargs()``) with the role's ``options``."""
    if (broker := _in_memory(connection)) is not None:
        from tooltrail.schemas.kafka.memory import MemoryProducer

        return cast(AIOKafkaProducer, MemoryProducer(broker, **connection, **options))
    return AIOKafkaProducer(**connection, **options)


def kafka_consumer(
    connection: Mapping[str, Any],
    *topics: str,
    max_batch_bytes: int = guard.DEFAULT_LIMIT,
    **options: Any,
) -> AIOKafkaConsumer:
    """A guarded consumer for ``connection``, subscribed to ``topics`` if any, with ``options``
    (``max_batch_bytes``: the most a compressed batch may inflate to)."""
    guard.install()
    options["key_deserializer"] = guard.guarded_keys(
        options.get("key_deserializer"), max_batch_bytes
    )
    if (broker := _in_memory(connection)) is not None:
        from tooltrail.schemas.kafka.memory import MemoryConsumer

        return cast(AIOKafkaConsumer, MemoryConsumer(broker, *topics, **connection, **options))
    return AIOKafkaConsumer(*topics, **connection, **options)


def kafka_admin(connection: Mapping[str, Any], **options: Any) -> AIOKafkaAdminClient:
    """An admin client for ``connection`` with ``options``."""
    if (broker := _in_memory(connection)) is not None:
        from tooltrail.schemas.kafka.memory import MemoryAdmin

        return cast(AIOKafkaAdminClient, MemoryAdmin(broker, **connection, **options))
    return AIOKafkaAdminClient(**connection, **options)
