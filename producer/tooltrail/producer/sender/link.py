"""The sender's link to Kafka: connect, reconnect, and confirm acknowledgements.

A broker restarted without storage acknowledges on a topic that no longer exists, so an
acknowledgement is counted ``sent`` only once the topic's id (Kafka metadata v10+) was read
unchanged after it. The same check notices Kafka coming back (``live``) and going away. The
producer client is built only through ``tooltrail.schemas.kafka.clients``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from tooltrail.producer.sender.spill import OutboxSpill
from tooltrail.producer.sender.state import AckedBatch, first_of, log
from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.backoff import Backoff
from tooltrail.schemas.kafka.clients import kafka_producer
from tooltrail.schemas.kafka.meta import topic_ids

_BACKOFF_START_S = 0.2
#: Kafka's default ``message.max.bytes`` (1,048,588) bounds one record batch on the broker.
_BATCH_BYTES_CAP = 1_000_000


def batch_bytes(max_request_size: int) -> int:
    """Bytes of records per batch: a whole take (``TOOLTRAIL_BATCH_SIZE`` records) fits one.

    Every batch of a partition is one more produce request, and each request takes the
    sender several turns of its loop, each turn the GIL taken back from a busy tool server:
    in 64 KB batches a take of 500 typical events went out as eight requests, one after the
    other (README, issue #29). The request's own framing stays under the request limit.
    """
    return max(min(max_request_size - 4096, _BATCH_BYTES_CAP), 1024)


class KafkaLink(OutboxSpill):
    """The Kafka client and the topic-id check (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The link's own fields: the client, the topic's id, acks awaiting confirmation."""
        super().__init__(*args, **kwargs)
        self._kafka: AIOKafkaProducer | None = None
        self._topic_id: bytes | None = None
        self._unconfirmed: list[AckedBatch] = []

    def _down(self, why: str) -> None:
        if self.live:
            log.warning(
                "tooltrail: kafka is not answering; events go to the outbox", extra={"reason": why}
            )
        self.live = False
        self._wake_link()

    async def _link_loop(self) -> None:
        s = self.settings
        backoff = Backoff(_BACKOFF_START_S, max(s.reconnect_backoff_max_s, _BACKOFF_START_S))
        while not self._stop.is_set():
            self._link_wake.clear()
            if not await self._check_topic():
                await first_of(self._stop.wait(), timeout=backoff.next())
                continue
            backoff.reset()
            if not self._unconfirmed:  # nothing to confirm: wait for an ack or a failure
                await first_of(self._stop.wait(), self._link_wake.wait())
                if not self.live:
                    continue
            # let acknowledgements gather, then confirm them all with one request
            await first_of(self._stop.wait(), timeout=s.ack_confirm_interval_ms / 1000)

    async def _check_topic(self) -> bool:
        """Connect if needed, then read the topic's id; True when Kafka is live."""
        s = self.settings
        if self._kafka is None:
            self._kafka = await self._connect()
            if self._kafka is None:
                return False
        asked = asyncio.get_running_loop().time()
        try:
            ids = await asyncio.wait_for(
                topic_ids(self._kafka.client, [s.events_topic]), s.request_timeout_ms / 1000
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            self._down(f"metadata: {exc!r}")
            return False
        tid = ids.get(s.events_topic)
        if tid is None or (self._topic_id is not None and tid != self._topic_id):
            self._respill_unconfirmed(
                "the events topic is gone" if tid is None else "the events topic was created again"
            )
            if self._topic_id is not None and tid is not None:
                await self._reconnect()  # forget the old topic's metadata
            self._topic_id = tid
            if tid is None:
                self._down("the events topic does not exist")
                return False
            return await self._check_topic()
        self._topic_id = tid
        self._confirm(asked)
        if not self.live:
            self.live = True
            log.info("tooltrail producer connected", extra={"bootstrap": s.kafka_bootstrap})
            self._wake_resend()
        return True

    def _confirm(self, asked: float) -> None:
        keep = []
        sent = resent = 0
        for acked in self._unconfirmed:
            if acked.at <= asked:
                for rec in acked.recs:
                    if rec.resent:
                        resent += 1
                    else:
                        sent += 1
            else:
                keep.append(acked)
        self._unconfirmed = keep
        if sent:
            self.counters.add("sent", sent)
        if resent:
            self.counters.add("resent", resent)

    def _respill_unconfirmed(self, why: str) -> None:
        recs = [rec for acked in self._unconfirmed for rec in acked.recs]
        self._unconfirmed = []
        if recs:
            log.warning(
                "tooltrail: acknowledged events are sent again",
                extra={"reason": why, "events": len(recs)},
            )
            self.counters.add("unconfirmed_acks", len(recs))
            self._spill(recs)

    async def _connect(self) -> AIOKafkaProducer | None:
        s = self.settings
        producer = kafka_producer(
            s.kafka_kwargs(),
            acks="all" if s.acks == "all" else int(s.acks),
            enable_idempotence=s.enable_idempotence,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=0,  # the pump already batches every TOOLTRAIL_LINGER_MS
            max_batch_size=batch_bytes(s.max_request_size),
            request_timeout_ms=s.request_timeout_ms,
            max_request_size=s.max_request_size,
            metadata_max_age_ms=30_000,
        )
        try:
            await asyncio.wait_for(producer.start(), s.request_timeout_ms / 1000)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("kafka not reachable yet: %s", exc)
            await settle(stop_kafka(producer), s.request_timeout_ms / 1000)
            return None
        except asyncio.CancelledError:  # cut short (stop's deadline): leave nothing open
            await settle(stop_kafka(producer), 1.0)
            raise
        return producer

    async def _reconnect(self) -> None:
        kafka, self._kafka = self._kafka, None
        if kafka is not None:
            await settle(stop_kafka(kafka), self.settings.request_timeout_ms / 1000)
        self._kafka = await self._connect()
