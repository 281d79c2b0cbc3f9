"""The generation-0 LeaveGroup patch: Tansu only, one consumer at a time, never a crash."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaConnectionError, RequestTimedOutError
from aiokafka.protocol.group import LeaveGroupRequest, LeaveGroupRequest_v0
from aiokafka.protocol.metadata import (
    MetadataRequest,
    MetadataRequest_v5,
    MetadataResponse_v0,
    MetadataResponse_v5,
)

import tooltrail.consumers.runtime.runner  # noqa: F401 - importing the runner must patch nothing
from tooltrail.consumers.kafka import tansu_compat
from tooltrail.consumers.kafka.tansu_compat import (
    BrokerIdentity,
    broker_identity,
    is_tansu,
    looks_like_tansu,
    patch_leave_group_if_tansu,
)

AIOKAFKA_LEAVE = GroupCoordinator._maybe_leave_group
KAFKA_ID = "MkU3OEVBNTcwNTJENDM2Qk"  # what `kafka-storage random-uuid` prints


class Coordinator(GroupCoordinator):  # type: ignore[misc]
    """aiokafka's coordinator with its network and rejoin parts replaced by records."""

    def __init__(
        self, generation: int, member_id: str = "member-1", instance_id: str | None = None
    ) -> None:
        # no super().__init__: no client, no coordination task; the leave logic is aiokafka's
        self.group_id = "g-1"
        self.generation = generation
        self.member_id = member_id
        self._group_instance_id = instance_id
        self.sent: list[Any] = []
        self.resets = 0
        self.fail: Exception | None = None

    async def _send_req(self, request: Any) -> Any:
        self.sent.append(request)
        if self.fail is not None:
            raise self.fail
        return None

    def reset_generation(self) -> None:
        self.resets += 1
        self.generation, self.member_id = -1, ""


class Client:
    """An aiokafka client that answers Metadata with a real aiokafka response."""

    def __init__(
        self,
        cluster_id: str | None,
        nodes: tuple[int, ...] = (111,),
        controller: int = 111,
        fail: BaseException | None = None,
    ) -> None:
        if cluster_id is None:  # Metadata v0: no cluster id, no controller
            self.response: Any = MetadataResponse_v0([(n, "h", 9092) for n in nodes], [])
        else:
            self.response = MetadataResponse_v5(
                0, [(n, "h", 9092, None) for n in nodes], cluster_id, controller, []
            )
        self.nodes = nodes
        self.fail = fail
        self.requests: list[tuple[Any, Any]] = []

    def get_random_node(self) -> int:
        return self.nodes[0]

    async def force_metadata_update(self) -> bool:
        return True

    async def send(self, node: Any, request: Any) -> Any:
        self.requests.append((node, request))
        if self.fail is not None:
            raise self.fail
        return self.response


def consumer(client: Client, coordinator: Any) -> Any:
    return SimpleNamespace(_client=client, _coordinator=coordinator)


def tansu() -> Client:
    return Client("tansu_cluster")


def kafka() -> Client:
    return Client(KAFKA_ID, nodes=(1, 2, 3), controller=2)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What this module warned about (other tests may have turned INFO on)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tooltrail.consumers.kafka.tansu_compat" and r.levelno >= logging.WARNING
    ]


def leaves(coordinator: Coordinator) -> list[dict[str, Any]]:
    """The LeaveGroup requests the coordinator sent, as the v0 struct the broker reads."""
    assert all(isinstance(r, LeaveGroupRequest) for r in coordinator.sent)
    return [r.build(LeaveGroupRequest_v0).to_object() for r in coordinator.sent]


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tansu_compat, "_warned", set())


# --- detection -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        (BrokerIdentity("tansu_cluster", frozenset({111}), 111), True),  # Tansu as we launch it
        (BrokerIdentity("tansu_cluster", frozenset({1, 2}), 1), True),  # its default id says so
        (BrokerIdentity("ci-cluster", frozenset({111}), 111), True),  # Tansu --cluster-id
        (BrokerIdentity(KAFKA_ID, frozenset({1, 2, 3}), 2), False),  # Kafka
        (BrokerIdentity(KAFKA_ID, frozenset({111}), 111), False),  # Kafka with node.id=111
        (BrokerIdentity("ci-cluster", frozenset({1}), 1), False),  # not Tansu's node id
        (BrokerIdentity("ci-cluster", frozenset({111, 112}), 111), False),  # other brokers
        (BrokerIdentity("redpanda.4c1e0a0c", frozenset({0}), 0), False),
        (BrokerIdentity(None, frozenset({111}), None), False),  # Metadata v0: nothing to go by
    ],
)
def test_tansu_is_told_from_what_the_broker_says(identity: BrokerIdentity, expected: bool) -> None:
    assert looks_like_tansu(identity) is expected


async def test_identity_comes_from_one_metadata_request_naming_no_topic() -> None:
    client = tansu()
    assert await broker_identity(client, 1.0) == BrokerIdentity(
        "tansu_cluster", frozenset({111}), 111
    )
    [(node, request)] = client.requests
    assert node == 111
    assert isinstance(request, MetadataRequest)
    assert request.build(MetadataRequest_v5).topics == []  # neither lists nor creates topics


async def test_a_broker_without_cluster_id_is_not_tansu() -> None:
    assert await broker_identity(Client(None), 1.0) == BrokerIdentity(None, frozenset({111}), None)
    assert await is_tansu(Client(None)) is False


async def test_is_tansu_on_kafka_and_tansu_responses() -> None:
    assert await is_tansu(tansu()) is True
    assert await is_tansu(kafka()) is False
    assert await is_tansu(Client("my-tansu")) is True


# --- scope -----------------------------------------------------------------------------------
def test_importing_patches_nothing() -> None:
    assert GroupCoordinator._maybe_leave_group.__module__ == "aiokafka.consumer.group_coordinator"


async def test_on_kafka_the_consumer_keeps_aiokafkas_leave() -> None:
    coordinator = Coordinator(generation=0)
    assert await patch_leave_group_if_tansu(consumer(kafka(), coordinator), 1.0) is False
    assert "_maybe_leave_group" not in vars(coordinator)
    assert GroupCoordinator._maybe_leave_group is AIOKAFKA_LEAVE
    await coordinator._maybe_leave_group()
    assert coordinator.sent == []  # aiokafka's own rule: no LeaveGroup at generation 0
    assert coordinator.resets == 1


async def test_on_tansu_a_member_of_generation_zero_leaves() -> None:
    coordinator = Coordinator(generation=0)
    assert await patch_leave_group_if_tansu(consumer(tansu(), coordinator), 1.0) is True
    await coordinator._maybe_leave_group()
    assert leaves(coordinator) == [{"group": "g-1", "member_id": "member-1"}]
    assert coordinator.resets == 1
    assert (coordinator.generation, coordinator.member_id) == (-1, "")


async def test_on_tansu_only_the_detected_consumer_changes() -> None:
    patched, other = Coordinator(generation=0), Coordinator(generation=0)
    assert await patch_leave_group_if_tansu(consumer(tansu(), patched), 1.0) is True
    assert GroupCoordinator._maybe_leave_group is AIOKAFKA_LEAVE  # no class-level patch
    await other._maybe_leave_group()
    assert other.sent == []


async def test_a_consumer_of_kafka_next_to_one_of_tansu_keeps_aiokafkas_leave() -> None:
    on_tansu, on_kafka = Coordinator(generation=0), Coordinator(generation=0)
    assert await patch_leave_group_if_tansu(consumer(tansu(), on_tansu), 1.0) is True
    assert await patch_leave_group_if_tansu(consumer(kafka(), on_kafka), 1.0) is False
    await on_kafka._maybe_leave_group()
    assert on_kafka.sent == []


@pytest.mark.parametrize(("generation", "sent"), [(3, 1), (1, 1), (-1, 0)])
async def test_on_tansu_other_generations_run_aiokafkas_own_method(
    generation: int, sent: int
) -> None:
    coordinator = Coordinator(generation=generation)
    assert await patch_leave_group_if_tansu(consumer(tansu(), coordinator), 1.0) is True
    await coordinator._maybe_leave_group()
    assert len(leaves(coordinator)) == sent  # aiokafka's: once above 0, never before a join
    assert coordinator.resets == 1


async def test_on_tansu_a_static_member_never_leaves() -> None:
    coordinator = Coordinator(generation=0, instance_id="pod-a")
    assert await patch_leave_group_if_tansu(consumer(tansu(), coordinator), 1.0) is True
    await coordinator._maybe_leave_group()
    assert coordinator.sent == []
    assert coordinator.resets == 1


async def test_patching_twice_asks_once_and_leaves_once() -> None:
    client, coordinator = tansu(), Coordinator(generation=0)
    assert await patch_leave_group_if_tansu(consumer(client, coordinator), 1.0) is True
    assert await patch_leave_group_if_tansu(consumer(client, coordinator), 1.0) is True
    assert len(client.requests) == 1
    await coordinator._maybe_leave_group()
    assert len(coordinator.sent) == 1


async def test_a_failed_leave_is_logged_and_the_generation_still_reset(
    caplog: pytest.LogCaptureFixture,
) -> None:
    coordinator = Coordinator(generation=0)
    coordinator.fail = RequestTimedOutError()
    assert await patch_leave_group_if_tansu(consumer(tansu(), coordinator), 1.0) is True
    with caplog.at_level(logging.WARNING, "tooltrail.consumers.kafka.tansu_compat"):
        await coordinator._maybe_leave_group()
    assert coordinator.resets == 1
    assert warnings_of(caplog) == ["LeaveGroup request failed"]


# --- never a crash ---------------------------------------------------------------------------
@pytest.mark.parametrize("coordinator", [None, object(), SimpleNamespace(generation=0)])
async def test_a_consumer_without_group_is_left_alone(coordinator: Any) -> None:
    client = tansu()
    assert await patch_leave_group_if_tansu(consumer(client, coordinator), 1.0) is False
    assert client.requests == []


@pytest.mark.parametrize(
    "failure", [KafkaConnectionError(), OSError("refused"), RequestTimedOutError()]
)
async def test_a_broker_that_does_not_answer_leaves_the_consumer_alone(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    coordinator = Coordinator(generation=0)
    with caplog.at_level(logging.WARNING, "tooltrail.consumers.kafka.tansu_compat"):
        assert (
            await patch_leave_group_if_tansu(
                consumer(Client("tansu_cluster", fail=failure), coordinator), 1.0
            )
            is False
        )
    assert "_maybe_leave_group" not in vars(coordinator)
    [warning] = warnings_of(caplog)
    assert "could not tell whether the broker is Tansu" in warning


async def test_a_broker_that_hangs_is_given_up_on_after_the_timeout() -> None:
    class Hanging(Client):
        async def send(self, node: Any, request: Any) -> Any:
            await asyncio.sleep(60)

    coordinator = Coordinator(generation=0)
    async with asyncio.timeout(5):
        assert (
            await patch_leave_group_if_tansu(consumer(Hanging("tansu_cluster"), coordinator), 0.05)
            is False
        )


class TakesArgs(Coordinator):
    async def _maybe_leave_group(self, reason: str) -> None:  # type: ignore[override]
        raise AssertionError("not called")


class Synchronous(Coordinator):
    def _maybe_leave_group(self) -> None:  # type: ignore[override]
        raise AssertionError("not called")


def _without_instance_id() -> Coordinator:
    coordinator = Coordinator(generation=0)
    del coordinator._group_instance_id
    return coordinator


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: TakesArgs(generation=0), None),
        (lambda: Synchronous(generation=0), None),
        (_without_instance_id, None),
        (lambda: Coordinator(generation=0), "leave-list"),  # aiokafka <= 0.12: list of versions
        (lambda: Coordinator(generation=0), "metadata-list"),
        (lambda: Coordinator(generation=0), "leave-args"),
    ],
)
async def test_an_aiokafka_of_another_shape_is_warned_about_once_and_left_alone(
    make: Any,
    shape: str | None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if shape == "leave-list":
        monkeypatch.setattr(tansu_compat, "LeaveGroupRequest", [object, object])
    elif shape == "metadata-list":
        monkeypatch.setattr(tansu_compat, "MetadataRequest", [object] * 6)
    elif shape == "leave-args":

        class LeaveV3:
            def __init__(self, group: str, members: list[Any], reason: str) -> None:
                pass

        monkeypatch.setattr(tansu_compat, "LeaveGroupRequest", LeaveV3)
    client = tansu()
    first, second = make(), make()
    with caplog.at_level(logging.WARNING, "tooltrail.consumers.kafka.tansu_compat"):
        assert await patch_leave_group_if_tansu(consumer(client, first), 1.0) is False
        assert await patch_leave_group_if_tansu(consumer(client, second), 1.0) is False
    [warning] = warnings_of(caplog)
    assert "Tansu LeaveGroup patch skipped" in warning
    assert client.requests == []  # not even asked: there is nothing it could change
    assert "_maybe_leave_group" not in vars(first)
