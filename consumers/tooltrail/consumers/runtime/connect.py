"""A group member's Kafka clients, made and started, waiting out a Kafka that is not there.

``connect`` creates the pipeline's topics, then starts the group's consumer (subscribed with
its rebalance listener) and its dead-letter producer, every step bounded by
``TOOLTRAIL_KAFKA_TIMEOUT_S``; while Kafka is unreachable it retries with backoff up to
``TOOLTRAIL_CONNECT_BACKOFF_MAX_S`` (one throttled warning, the group visibly not connected)
until it answers or ``stop`` is set. A failed attempt leaves no client open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from tooltrail.consumers.errors import ConsumerError
from tooltrail.consumers.kafka.topics import ensure_pipeline_topics
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.backoff import Backoff
from tooltrail.schemas.kafka.clients import kafka_consumer, kafka_producer
from tooltrail.schemas.throttle import Throttle

log = logging.getLogger(__name__)
UNREACHABLE = (KafkaError, OSError, TimeoutError, ConsumerError)
Clients = tuple[AIOKafkaConsumer, AIOKafkaProducer]


def clients(settings: WorkerSettings, group: str, listener: ConsumerRebalanceListener) -> Clients:
    """The group's consumer (not started, subscribed) and its dead-letter producer."""
    s = settings
    consumer = kafka_consumer(
        s.kafka_kwargs(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=s.session_timeout_ms,
        heartbeat_interval_ms=s.heartbeat_interval_ms,
        fetch_max_wait_ms=s.fetch_max_wait_ms,
        max_partition_fetch_bytes=max(2 * s.max_message_bytes, 1_048_576),
        fetch_max_bytes=max(4 * s.max_message_bytes, 52_428_800),
        metadata_max_age_ms=5_000,  # notice a recreated topic within seconds
        max_batch_bytes=s.max_batch_bytes,
    )
    consumer.subscribe([s.events_topic], listener=listener)
    dlq = kafka_producer(
        s.kafka_kwargs(),
        acks="all",
        enable_idempotence=False,
        request_timeout_ms=int(s.kafka_timeout_s * 1000),
        max_request_size=s.dlq_max_bytes + 65_536,
    )
    return consumer, dlq


async def connect(
    settings: WorkerSettings,
    group: str,
    stats: GroupStats,
    listener: ConsumerRebalanceListener,
    stop: asyncio.Event,
) -> Clients | None:
    """Topics, consumer and dead-letter producer, retried until Kafka answers; None if
    ``stop`` came first (see module docstring)."""
    s = settings
    backoff = Backoff(
        s.retry_backoff_initial_s, max(s.connect_backoff_max_s, s.retry_backoff_initial_s)
    )
    unreachable = Throttle(log, "kafka unreachable", s.warning_interval_s)
    while not stop.is_set():
        consumer, dlq = clients(s, group, listener)
        try:
            await ensure_pipeline_topics(s)
            async with asyncio.timeout(s.kafka_timeout_s):
                await consumer.start()
                await dlq.start()
        except (asyncio.CancelledError, *UNREACHABLE) as exc:
            await settle(stop_kafka(consumer), s.kafka_timeout_s)
            await settle(stop_kafka(dlq), s.kafka_timeout_s)
            if isinstance(exc, asyncio.CancelledError):
                raise  # cancelled while starting: the clients are closed, nothing is left
            stats.failed(f"kafka unreachable: {type(exc).__name__}: {exc}")
            unreachable.warning(
                "kafka unreachable; waiting",
                extra={"group": group, "bootstrap": s.kafka_bootstrap, "error": stats.last_error},
            )
            stats.last_poll = time.monotonic()  # waiting is not a stall
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff.next())
            continue
        unreachable.flush()
        return consumer, dlq
    unreachable.flush()
    return None
