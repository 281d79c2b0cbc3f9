"""``LagProbe``: the true end of a group's partitions, read apart from the group's consumer.

The group's own consumer learns each partition's high watermark only from its fetches, and
it does not fetch while its partitions are paused or while the loop waits on a sink: lag
taken from it would freeze exactly when it matters. The probe is a group-less consumer that
positions itself on the last batch of each partition (Tansu's ListOffsets(latest) is wrong on
multi-record batches, a fetch's high watermark is right) and reads the high watermark there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.kafka.clients import kafka_consumer


class LagProbe:
    """A group-less consumer that reads high watermarks on demand (see module docstring)."""

    def __init__(self, kafka_kwargs: dict[str, Any], topic: str, timeout: float) -> None:
        self.topic = topic
        self.timeout = timeout
        self._kwargs = kafka_kwargs
        self._consumer: AIOKafkaConsumer | None = None

    async def _client(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = kafka_consumer(
                self._kwargs,
                group_id=None,
                enable_auto_commit=False,
                fetch_max_wait_ms=50,
                max_partition_fetch_bytes=65_536,
                request_timeout_ms=int(self.timeout * 1000),
            )
            try:
                await asyncio.wait_for(consumer.start(), self.timeout)
            except BaseException:  # a start that failed or timed out still holds connections
                await settle(stop_kafka(consumer), self.timeout)
                raise
            self._consumer = consumer
        return self._consumer

    async def topics(self) -> set[str]:
        """The topics the cluster has now (a fresh metadata request)."""
        consumer = await self._client()
        return set(await asyncio.wait_for(consumer.topics(), self.timeout))

    async def highwater(self, partitions: set[int]) -> dict[int, int]:
        """The high watermark of each partition of the topic (those it could read in time)."""
        if not partitions:
            return {}
        consumer = await self._client()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        async with asyncio.timeout(self.timeout):
            reported = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, max(reported[tp] - 1, 0))
            while any(consumer.highwater(tp) is None for tp in tps):
                await consumer.getmany(timeout_ms=100)
        return {tp.partition: consumer.highwater(tp) or reported[tp] for tp in tps}

    async def close(self) -> None:
        """Stop the probe's consumer. Never raises."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await settle(stop_kafka(consumer), self.timeout)
