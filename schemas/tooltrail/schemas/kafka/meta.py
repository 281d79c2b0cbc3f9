"""Two things aiokafka does not offer: metadata without auto-creation, and topic ids.

Shared by the producer's sender and the workers' topic handling. It is the one module of
``schemas`` that imports aiokafka, and nothing else in ``schemas`` imports it, so reading or
writing the wire formats never loads a Kafka client.

* **No auto-creation.** A Kafka metadata request may create the topics it names
  (``allow_auto_topic_creation``, default true in aiokafka); Tansu honours it with 4
  partitions, and after a restart it would bring the events topic back with the wrong
  partition count and no consumer offsets. ``no_auto_create_here`` turns it off for every
  aiokafka client started from the current context (the producer's sender loop), and
  ``disable_auto_creation`` for the whole process (the workers). Other aiokafka clients of a
  tool server keep their default: the choice is carried by a ``ContextVar``.
* **Topic ids.** A topic deleted and created again (or lost by a broker that keeps topics in
  memory) has the same name and a new id. Metadata v10+ returns the id; aiokafka speaks
  only up to v5, so ``topic_ids`` sends its own v12 (or v10) request. A broker older than
  Kafka 2.8 gives no ids: then only existence is known (``EXISTS``).
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from io import BytesIO
from typing import Any

from aiokafka import client as _client
from aiokafka.errors import IncompatibleBrokerVersion
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.protocol.types import (
    AbstractType,
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

#: What ``topic_ids`` reports for a topic that exists on a broker that gives no ids.
EXISTS = b"exists"
_ZERO = bytes(16)
_UNKNOWN_TOPIC = 3
_auto_create: ContextVar[bool | None] = ContextVar("tooltrail_auto_create", default=None)
_process_default = [True]


class _Metadata(MetadataRequest):  # type: ignore[misc]
    """aiokafka's metadata request whose auto-creation default follows the context."""

    def __init__(
        self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = None
    ) -> None:
        if allow_auto_topic_creation is None:
            here = _auto_create.get()
            allow_auto_topic_creation = _process_default[0] if here is None else here
        super().__init__(topics, allow_auto_topic_creation)


def _install() -> None:
    _client.MetadataRequest = _Metadata  # aiokafka builds its requests through this name


def auto_creation_allowed() -> bool:
    """Whether a metadata request from the current context may create the topics it names."""
    here = _auto_create.get()
    return _process_default[0] if here is None else here


def no_auto_create_here() -> None:
    """aiokafka clients started from this context (and its tasks) never create topics."""
    _install()
    _auto_create.set(False)


def disable_auto_creation() -> None:
    """No aiokafka client of this process creates topics by asking for their metadata."""
    _install()
    _process_default[0] = False


class _Uuid(AbstractType):  # type: ignore[misc]
    @classmethod
    def encode(cls, value: bytes) -> bytes:
        return value

    @classmethod
    def decode(cls, data: BytesIO) -> bytes:
        return data.read(16)

    @classmethod
    def repr(cls, value: bytes) -> str:
        return str(uuid.UUID(bytes=value)) if len(value) == 16 else repr(value)


def _partitions() -> CompactArray:
    return CompactArray(
        ("error_code", Int16),
        ("partition_index", Int32),
        ("leader_id", Int32),
        ("leader_epoch", Int32),
        ("replica_nodes", CompactArray(Int32)),
        ("isr_nodes", CompactArray(Int32)),
        ("offline_replicas", CompactArray(Int32)),
        ("tags", TaggedFields),
    )


def _topics() -> CompactArray:
    """The topics of a response (v10 and v12 alike)."""
    return CompactArray(
        ("error_code", Int16),
        ("name", CompactString("utf-8")),
        ("topic_id", _Uuid),
        ("is_internal", Boolean),
        ("partitions", _partitions()),
        ("topic_authorized_operations", Int32),
        ("tags", TaggedFields),
    )


def _asked() -> CompactArray:
    """The topics of a request (v10 and v12 alike)."""
    return CompactArray(
        ("topic_id", _Uuid), ("name", CompactString("utf-8")), ("tags", TaggedFields)
    )


def _brokers() -> CompactArray:
    return CompactArray(
        ("node_id", Int32),
        ("host", CompactString("utf-8")),
        ("port", Int32),
        ("rack", CompactString("utf-8")),
        ("tags", TaggedFields),
    )


class MetadataResponse_v10(Response):  # type: ignore[misc]
    API_KEY = 3
    API_VERSION = 10
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("brokers", _brokers()),
        ("cluster_id", CompactString("utf-8")),
        ("controller_id", Int32),
        ("topics", _topics()),
        ("cluster_authorized_operations", Int32),
        ("tags", TaggedFields),
    )


class MetadataResponse_v12(Response):  # type: ignore[misc]
    API_KEY = 3
    API_VERSION = 12
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("brokers", _brokers()),
        ("cluster_id", CompactString("utf-8")),
        ("controller_id", Int32),
        ("topics", _topics()),
        ("tags", TaggedFields),
    )


class MetadataRequest_v10(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 10
    RESPONSE_TYPE = MetadataResponse_v10
    SCHEMA = Schema(
        ("topics", _asked()),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class MetadataRequest_v12(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 12
    RESPONSE_TYPE = MetadataResponse_v12
    SCHEMA = Schema(
        ("topics", _asked()),
        ("allow_auto_topic_creation", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class TopicIdRequest(Request[MetadataRequest_v10 | MetadataRequest_v12]):  # type: ignore[misc]
    """Metadata v10/v12 for named topics, never creating them."""

    API_KEY = 3

    def __init__(self, topics: list[str]) -> None:
        self.topics = topics

    def build(self, request_struct_class: type[Any]) -> Any:
        """The request in the version the broker negotiated."""
        wanted: list[tuple[bytes, str, dict[int, bytes]]] = [(_ZERO, t, {}) for t in self.topics]
        if request_struct_class.API_VERSION >= 11:
            return request_struct_class(wanted, False, False, {})
        return request_struct_class(wanted, False, False, False, {})


async def topic_ids(client: Any, topics: list[str]) -> dict[str, bytes | None]:
    """Each topic's id (16 bytes), ``EXISTS`` on a broker without ids, or None if missing.

    ``client`` is an aiokafka client (``producer.client``). Sends one request to any broker;
    an in-memory client (``schemas.kafka.memory``) answers directly.

    Raises:
        KafkaError, OSError, TimeoutError: the broker did not answer.
    """
    in_memory = getattr(client, "in_memory_topic_ids", None)
    if in_memory is not None:
        found: dict[str, bytes | None] = await in_memory(topics)
        return found
    node = client.get_random_node()
    if node is None:
        await client.force_metadata_update()
        node = client.get_random_node()
    try:
        response = await client.send(node, TopicIdRequest(topics))
    except (IncompatibleBrokerVersion, NotImplementedError):
        return await _existence(client, topics)
    found = dict.fromkeys(topics)
    for error, name, tid, *_ in response.topics:
        if error == 0 and name in found:
            found[name] = tid if tid != _ZERO else EXISTS
    return found


async def _existence(client: Any, topics: list[str]) -> dict[str, bytes | None]:
    node = client.get_random_node()
    response = await client.send(node, _Metadata(topics, False))
    found: dict[str, bytes | None] = dict.fromkeys(topics)
    for error, name, *_ in response.topics:
        if error == 0 and name in found:
            found[name] = EXISTS
        elif error != _UNKNOWN_TOPIC and name in found:
            found[name] = None
    return found
