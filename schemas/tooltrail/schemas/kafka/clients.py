"""Every Kafka client tooltrail makes is made here.

``kafka_producer``, ``kafka_consumer`` and ``kafka_admin`` build aiokafka's ``AIOKafkaProducer``,
``AIOKafkaConsumer`` and ``AIOKafkaAdminClient`` from a settings object's connection keywords
(``KafkaSettings.kafka_kwargs()``: bootstrap, TLS/SASL, client id) and the options of the
role. Nothing else in tooltrail calls those constructors, so what every client of a process
talks to is decided in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

__all__ = ["kafka_admin", "kafka_consumer", "kafka_producer"]


def kafka_producer(connection: Mapping[str, Any], **options: Any) -> AIOKafkaProducer:
    """A producer for ``connection`` (``kafka_kwargs()``) with the role's ``options``."""
    return AIOKafkaProducer(**connection, **options)


def kafka_consumer(connection: Mapping[str, Any], *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer for ``connection``, subscribed to ``topics`` if any, with ``options``."""
    return AIOKafkaConsumer(*topics, **connection, **options)


def kafka_admin(connection: Mapping[str, Any], **options: Any) -> AIOKafkaAdminClient:
    """An admin client for ``connection`` with ``options``."""
    return AIOKafkaAdminClient(**connection, **options)
