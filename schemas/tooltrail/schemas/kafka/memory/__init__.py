"""An in-process Kafka stand-in: the broker and aiokafka's client API, with injectable faults.

**Selecting it.** Every Kafka client of tooltrail is built by ``tooltrail.schemas.kafka.clients``;
given the bootstrap ``memory://<name>`` (``TOOLTRAIL_KAFKA_BOOTSTRAP=memory://t1``) it builds
in-memory clients of the broker ``<name>`` instead of aiokafka's. One broker per name per
process, created on first use; ``broker(name)`` returns it (for a test to inspect it or inject
faults) and ``reset()`` forgets every broker (the next use starts empty). It is thread-safe: a
tool server's producer loop in its own thread and a test's loop share one broker.

**What it keeps, as Kafka does.** Topics with partitions and ids (a new id on every creation),
each partition a log of record batches in message format v2 (``batches``), offsets assigned by
the broker, the producer's timestamps (CreateTime) and headers. Metadata requests create a
missing topic only if the broker (``auto_create_partitions``, default 1 partition) and the
client (``schemas.kafka.meta``: ``disable_auto_creation`` / ``no_auto_create_here``) both allow
it. Consumer groups with members, round-robin assignment, generations from 1, rebalance
listeners run from a background task (revoke, rejoin, assign), commits accepted only from the
current generation, and ``committed``. ``offsets_for_times`` answers as Kafka does (the first
record at or after the time; None past the end), ``end_offsets`` is the true high watermark.

**Clients** (``MemoryProducer``, ``MemoryConsumer``, ``MemoryAdmin``) take aiokafka's keyword
arguments (an unknown one is a ``TypeError``, as with aiokafka) and raise aiokafka's own
exceptions. Producer: ``start stop send send_and_wait create_batch send_batch partitions_for
flush`` and ``client``. Consumer: ``subscribe(listener=) assign assignment getmany highwater
pause resume paused commit committed seek seek_to_beginning seek_to_end position topics
partitions_for_topic offsets_for_times beginning_offsets end_offsets start stop``. Consumers
decode fetched batches with aiokafka's own record code, so a hostile record does to them what
it does to aiokafka. Admin: ``start close list_topics create_topics delete_topics
describe_topics list_consumer_group_offsets``. ``schemas.kafka.meta.topic_ids`` and the
consumers' Tansu check answer directly for these clients.

**Faults** (``broker(name).faults``, see ``faults``): the broker down and back (connection
errors), requests that time out, produce acknowledgements lost, held until released or
delayed, a stalled broker that processes queued requests late. On the broker itself:
``recreate_topic`` (same partitions, new id, empty, group offsets gone), ``delete_topic``,
``restart`` (everything lost, as Tansu's memory storage), and ``append(topic, [RawRecord…],
compression=…)`` / ``produce(tp, batch_bytes)`` for records a real broker would carry that
are hostile at the Kafka layer: null key and value, header names that are not UTF-8, huge
header sets, any codec (``batches.encode_batch``).

**What it does not do.** Transactions and idempotence, retention and compaction, quotas,
ACLs, several brokers or replicas; requests are answered at once unless a fault says
otherwise, so it measures nothing about speed.
"""

from __future__ import annotations

import threading
from typing import Any

from tooltrail.schemas.kafka.batches import RawRecord, encode_batch
from tooltrail.schemas.kafka.memory.admin import MemoryAdmin
from tooltrail.schemas.kafka.memory.broker import MemoryBroker
from tooltrail.schemas.kafka.memory.consumer import MemoryConsumer
from tooltrail.schemas.kafka.memory.faults import Faults
from tooltrail.schemas.kafka.memory.producer import MemoryProducer

__all__ = [
    "PREFIX",
    "Faults",
    "MemoryAdmin",
    "MemoryBroker",
    "MemoryConsumer",
    "MemoryProducer",
    "RawRecord",
    "broker",
    "broker_of",
    "encode_batch",
    "reset",
]

PREFIX = "memory://"
_brokers: dict[str, MemoryBroker] = {}
_lock = threading.Lock()


def broker(name: str) -> MemoryBroker:
    """The in-memory broker ``name`` (``memory://<name>``), created on first use."""
    if not name:
        raise ValueError("an in-memory broker needs a name: memory://<name>")
    with _lock:
        found = _brokers.get(name)
        if found is None:
            found = _brokers[name] = MemoryBroker(name)
        return found


def broker_of(connection: dict[str, Any]) -> MemoryBroker | None:
    """The in-memory broker a client's connection keywords name, or None for a real one."""
    bootstrap = connection.get("bootstrap_servers")
    if isinstance(bootstrap, str) and bootstrap.startswith(PREFIX):
        return broker(bootstrap.removeprefix(PREFIX))
    return None


def reset(name: str | None = None) -> None:
    """Forget broker ``name`` (or every broker): its next use starts empty."""
    with _lock:
        if name is None:
            _brokers.clear()
        else:
            _brokers.pop(name, None)
