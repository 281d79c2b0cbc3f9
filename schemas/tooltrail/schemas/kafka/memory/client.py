"""What every in-memory client shares: its broker, options checked as aiokafka checks them,
the network client that ``producer.client`` / ``consumer._client`` stand for."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka.errors import KafkaConnectionError

from tooltrail.schemas.kafka.memory.broker import NODE_ID, MemoryBroker


def checked_options(
    real: Callable[..., Any], args: Sequence[Any], options: dict[str, Any]
) -> dict[str, Any]:
    """``options`` with aiokafka's defaults filled in; a ``TypeError`` for a keyword that the
    real client (``real``, its class) would refuse, so code that runs on the stand-in runs on
    Kafka too. Like aiokafka, it must be called from a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "The object should be created within an async function or provide loop directly."
        ) from None
    signature = inspect.signature(real)
    bound = signature.bind(*args, **options)
    bound.apply_defaults()
    out = dict(bound.arguments)
    extra = out.pop("kwargs", None)
    if extra:
        out.update(extra)
    return out


class MemoryClient:
    """The network client of an in-memory producer or consumer (see module docstring)."""

    def __init__(self, broker: MemoryBroker, request_timeout_s: float) -> None:
        self.in_memory_broker = broker
        self.request_timeout_s = request_timeout_s
        self.closed = False

    async def in_memory_topic_ids(self, topics: list[str]) -> dict[str, bytes | None]:
        """``schemas.kafka.meta.topic_ids`` for this broker: each topic's id or None.

        Raises:
            KafkaConnectionError, RequestTimedOutError: as the broker's faults say.
        """
        await self.in_memory_broker.faults.admit("metadata", self.request_timeout_s)
        return {t: self.in_memory_broker.topic_id(t) for t in topics}

    def in_memory_identity(self) -> tuple[str, frozenset[int], int]:
        """(cluster id, broker ids, controller id), as a Metadata response gives them."""
        broker = self.in_memory_broker
        return broker.cluster_id, frozenset({NODE_ID}), NODE_ID

    async def bootstrap(self) -> None:
        """Reach the broker as a starting client does.

        Raises:
            KafkaConnectionError: the broker is down or does not answer in time.
        """
        try:
            await self.in_memory_broker.faults.admit("metadata", self.request_timeout_s)
        except Exception as exc:  # aiokafka reports any bootstrap failure so
            raise KafkaConnectionError(
                f"Unable to bootstrap from memory://{self.in_memory_broker.name}"
            ) from exc

    async def close(self) -> None:
        """Nothing to release; marks the client closed."""
        self.closed = True
