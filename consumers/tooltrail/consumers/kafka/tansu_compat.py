"""LeaveGroup in a group's first generation, for consumers of a Tansu broker only.

Tansu numbers a consumer group's first generation 0; Kafka starts at 1. aiokafka sends
LeaveGroup on a clean stop only when ``generation > 0``, so a member of a Tansu group that
stopped in the first generation kept its partitions until its session timed out.

``patch_leave_group_if_tansu(consumer)`` asks the broker who it is (a Metadata request: cluster
id, broker ids, controller id). Only if it is Tansu does *that consumer's* group coordinator get
a ``_maybe_leave_group`` that also leaves in generation 0 (any other generation still runs
aiokafka's own method). Nothing is patched at class level: other consumers, and every consumer
of a real Kafka, run aiokafka unchanged.

The patch relies on private aiokafka names (the coordinator's ``_maybe_leave_group``,
``generation``, ``member_id``, ``_group_instance_id``, ``_send_req``, ``reset_generation`` and
a ``LeaveGroupRequest(group, member_id)`` class, as in aiokafka 0.13 and 0.14). If the installed
aiokafka lacks one of them or shapes it differently, one warning is logged and the consumer keeps
aiokafka's behaviour: a slower hand-over on Tansu, never a failing worker.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import types
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError

try:
    from aiokafka.consumer.group_coordinator import GroupCoordinator
except ImportError:  # pragma: no cover - an aiokafka with another layout: never patched
    GroupCoordinator = None
try:
    from aiokafka.protocol.group import LeaveGroupRequest
except ImportError:  # pragma: no cover
    LeaveGroupRequest = None
try:
    from aiokafka.protocol.metadata import MetadataRequest
except ImportError:  # pragma: no cover
    MetadataRequest = None

log = logging.getLogger(__name__)

#: Tansu's default cluster id (``--cluster-id`` / ``CLUSTER_ID``; our launcher passes neither).
TANSU_CLUSTER_ID = "tansu_cluster"
#: Tansu's node id: fixed, every Tansu broker reports it (it has no option to change it).
TANSU_NODE_ID = 111
#: A Kafka cluster id: a UUID in unpadded base64url, as `kafka-storage random-uuid` prints it.
_KAFKA_CLUSTER_ID = re.compile(r"[A-Za-z0-9_-]{22}")
#: The coordinator attributes the patched method reads or calls.
_NEEDED = (
    "generation",
    "member_id",
    "group_id",
    "_group_instance_id",
    "_send_req",
    "reset_generation",
)
_MARK = "_tooltrail_tansu_leave"
_warned: set[str] = set()


@dataclass(frozen=True)
class BrokerIdentity:
    """What a Metadata response says about the cluster (``cluster_id`` None before v2)."""

    cluster_id: str | None
    node_ids: frozenset[int]
    controller_id: int | None


def looks_like_tansu(identity: BrokerIdentity) -> bool:
    """True if the broker is Tansu.

    Its default cluster id says so; a Tansu started with its own cluster id still has node id
    111 as its only broker and controller, and a cluster id that no Kafka would accept.
    """
    if identity.cluster_id == TANSU_CLUSTER_ID:
        return True
    return (
        identity.cluster_id is not None
        and not _KAFKA_CLUSTER_ID.fullmatch(identity.cluster_id)
        and identity.node_ids == {TANSU_NODE_ID}
        and identity.controller_id == TANSU_NODE_ID
    )


async def broker_identity(client: Any, timeout: float) -> BrokerIdentity:  # noqa: ASYNC109
    """Ask any broker of ``client`` (an aiokafka client) for the cluster's identity.

    The request names no topic: it neither lists nor creates any.

    Raises:
        KafkaError, OSError, TimeoutError: the broker did not answer.
        TypeError: this aiokafka builds Metadata requests differently.
    """
    in_memory = getattr(client, "in_memory_identity", None)
    if in_memory is not None:  # the in-process stand-in (schemas.kafka.memory) is no Tansu
        cluster_id, node_ids, controller_id = in_memory()
        return BrokerIdentity(cluster_id, node_ids, controller_id)
    if not isinstance(MetadataRequest, type):  # a list of versions before aiokafka 0.13
        raise TypeError("aiokafka.protocol.metadata.MetadataRequest is not a request class")
    async with asyncio.timeout(timeout):
        node = client.get_random_node()
        if node is None:
            await client.force_metadata_update()
            node = client.get_random_node()
        response = await client.send(node, MetadataRequest([]))
    brokers: Iterable[Any] = getattr(response, "brokers", ()) or ()
    return BrokerIdentity(
        cluster_id=getattr(response, "cluster_id", None),
        node_ids=frozenset(int(b[0]) for b in brokers),
        controller_id=getattr(response, "controller_id", None),
    )


async def is_tansu(client: Any, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
    """True if the broker ``client`` (an aiokafka client) talks to is Tansu.

    Raises:
        KafkaError, OSError, TimeoutError: the broker did not answer.
    """
    return looks_like_tansu(await broker_identity(client, timeout))


async def patch_leave_group_if_tansu(consumer: Any, timeout: float) -> bool:  # noqa: ASYNC109
    """On Tansu, make the started ``consumer`` leave its group in generation 0 too.

    Returns True if the consumer now does. Never raises for what the broker or the installed
    aiokafka do: then the consumer keeps aiokafka's behaviour (and a warning says why).
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if GroupCoordinator is None or not isinstance(coordinator, GroupCoordinator):
        return False  # not started, or no group: there is nothing to leave
    if getattr(coordinator, _MARK, False):
        return True
    if (why := _unpatchable(coordinator)) is not None:
        _warn_once(why)
        return False
    try:
        tansu = await is_tansu(consumer._client, timeout)
    except (KafkaError, OSError, TimeoutError, TypeError, AttributeError, ValueError) as exc:
        log.warning(
            "could not tell whether the broker is Tansu; a stop in the group's first "
            "generation may hand its partitions over only after the session timeout",
            extra={"group": coordinator.group_id, "error": repr(exc)},
        )
        return False
    if tansu:
        original = type(coordinator)._maybe_leave_group
        coordinator._maybe_leave_group = types.MethodType(_leaving_at_zero(original), coordinator)
        setattr(coordinator, _MARK, True)
        log.info(
            "broker is Tansu: leaving the group in generation 0 too",
            extra={"group": coordinator.group_id},
        )
    return tansu


def _leaving_at_zero(
    original: Callable[[Any], Awaitable[None]],
) -> Callable[[Any], Awaitable[None]]:
    async def _maybe_leave_group(self: Any) -> None:
        if self.generation == 0 and self.member_id and self._group_instance_id is None:
            try:  # the best-effort leave aiokafka sends at generation > 0
                await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
            except KafkaError as exc:
                log.warning(
                    "LeaveGroup request failed", extra={"group": self.group_id, "error": repr(exc)}
                )
            self.reset_generation()
            return
        await original(self)

    return _maybe_leave_group


def _unpatchable(coordinator: Any) -> str | None:
    """Why the installed aiokafka cannot take the patch, or None if it can."""
    if not isinstance(MetadataRequest, type):
        return "aiokafka.protocol.metadata.MetadataRequest is not a request class"
    if not isinstance(LeaveGroupRequest, type):
        return "aiokafka.protocol.group.LeaveGroupRequest is not a request class"
    try:
        inspect.signature(LeaveGroupRequest).bind("group", "member")
    except (TypeError, ValueError):
        return "LeaveGroupRequest(group_id, member_id) does not fit this aiokafka"
    original = getattr(type(coordinator), "_maybe_leave_group", None)
    if not inspect.iscoroutinefunction(original):
        return "GroupCoordinator._maybe_leave_group is missing or not a coroutine function"
    if list(inspect.signature(original).parameters) != ["self"]:
        return "GroupCoordinator._maybe_leave_group takes arguments in this aiokafka"
    if missing := [name for name in _NEEDED if not hasattr(coordinator, name)]:
        return f"GroupCoordinator has no {', '.join(missing)} in this aiokafka"
    return None


def _warn_once(why: str) -> None:
    if why not in _warned:
        _warned.add(why)
        log.warning(
            "Tansu LeaveGroup patch skipped: %s; on Tansu a stop in a group's "
            "first generation hands its partitions over only after the session timeout",
            why,
        )
