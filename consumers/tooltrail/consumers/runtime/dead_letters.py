"""``DeadLetters``: a batch's dead letters sent, and a letter Kafka refuses for good counted,
not retried forever.

``send`` hands every failure to ``kafka.dlq.send_dead_letters`` (which builds letters that fit
and shrinks one the broker finds too large). What happens next depends on the error:

* a ``DeadLetterError`` that is ``retriable`` (a timeout, a broker away) is raised: the runner
  pauses and retries the batch, committing nothing past it;
* one that is not (the broker refuses the letter for good), or any other error of building or
  sending a letter, is isolated: the letters are sent one by one, and each one that still
  cannot be sent for good is *lost*: counted (``letters_lost``), logged with its position and
  reason (throttled), and its record committed past, so it never wedges the group or costs a
  valid neighbour. A letter sent in the batch attempt may be sent again here (at least once).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from tooltrail.consumers.errors import DeadLetterError
from tooltrail.consumers.kafka.dlq import send_dead_letters
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.throttle import Throttle

log = logging.getLogger(__name__)
Failure = tuple["ConsumerRecord[Any, Any]", str]


class DeadLetters:
    """The dead-letter side of one group member (see module docstring)."""

    def __init__(self, settings: WorkerSettings, group: str, stats: GroupStats) -> None:
        self.settings = settings
        self.group = group
        self.stats = stats
        self.lost_log = Throttle(log, "dead letters lost", settings.warning_interval_s)

    async def send(self, producer: AIOKafkaProducer, failures: Sequence[Failure]) -> None:
        """Send a letter for each failure; return once each is acknowledged or lost.

        Raises:
            DeadLetterError: retriable: nothing is lost, the caller retries.
        """
        if not failures:
            return
        try:
            lost = await self._send(producer, failures)
        except DeadLetterError as exc:
            if exc.retriable:
                raise
            await self._one_by_one(producer, failures)
            return
        except Exception:  # noqa: BLE001 - a letter that cannot even be built: isolate it
            await self._one_by_one(producer, failures)
            return
        self.stats.dead_lettered += len(failures) - len(lost)
        for record, why in lost:
            self._lost(record, why)

    async def _send(self, producer: AIOKafkaProducer, failures: Sequence[Failure]) -> list[Failure]:
        """Send the letters; the ones refused for good even when minimal (``dlq``'s report)."""
        s = self.settings
        report = await send_dead_letters(
            producer, s.dlq_topic, self.group, failures, s.dlq_max_bytes, s.kafka_timeout_s
        )
        return list(report.unsendable)

    async def _one_by_one(self, producer: AIOKafkaProducer, failures: Sequence[Failure]) -> None:
        for record, reason in failures:
            try:
                lost = await self._send(producer, [(record, reason)])
            except DeadLetterError as exc:
                if exc.retriable:
                    raise
                lost = [(record, f"{reason} (letter refused: {type(exc).__name__}: {exc})")]
            except Exception as exc:  # noqa: BLE001 - see module docstring
                lost = [(record, f"{reason} (letter failed: {type(exc).__name__}: {exc})")]
            if lost:
                self._lost(record, lost[0][1])
            else:
                self.stats.dead_lettered += 1

    def _lost(self, record: ConsumerRecord[Any, Any], reason: str) -> None:
        self.stats.letters_lost += 1
        self.lost_log.warning(
            "a dead letter was refused for good; its record is skipped",
            extra={
                "group": self.group,
                "partition": record.partition,
                "offset": record.offset,
                "reason": reason[:500],
            },
        )
