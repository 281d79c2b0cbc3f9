"""The Tansu LeaveGroup patch against real brokers.

The session broker is recognised for what it is (Tansu, or a Kafka given by ``KAFKA_BOOTSTRAP``
or testcontainers), and on Tansu a worker that stops in the group's first generation (which
Tansu numbers 0) leaves the group at once, so the next member takes its partitions after the
join wait instead of after the stopped member's session expired.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

import tooltrail.consumers.runtime.runner
from tests.conftest import KafkaEndpoint, Names
from tests.integration.test_metrics_worker import running
from tests.kafka_helpers import wait_for
from tooltrail.consumers.app.launcher import _TANSU_ENV, EmbeddedBroker, _port_open, tansu_binary
from tooltrail.consumers.kafka.tansu_compat import broker_identity, is_tansu
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.inmemory import InMemorySink

pytestmark = pytest.mark.integration
SESSION_S = 6.0  # Tansu joins wait half of it: 3 s; a member that never left holds on for 6 s


class _OwnClusterId(EmbeddedBroker):
    """The embedded broker started with ``--cluster-id`` (the launcher never passes one)."""

    def start(self, timeout: float = 10.0) -> _OwnClusterId:
        url = f"tcp://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        self._spawn(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                "--cluster-id",
                "ci-tooltrail",
            ],
            env,
        )
        self._wait_ready(lambda: _port_open(self.port), timeout)
        return self


@pytest.fixture
def renamed_tansu(tmp_path: Path) -> Iterator[_OwnClusterId]:
    broker = _OwnClusterId(tmp_path / "tansu.log", None).start()
    try:
        yield broker
    finally:
        broker.stop()


async def _identity_of(bootstrap: str) -> tuple[bool, Any]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return await is_tansu(producer.client), await broker_identity(producer.client, 5.0)
    finally:
        await producer.stop()


async def test_the_session_broker_is_recognised_for_what_it_is(kafka: KafkaEndpoint) -> None:
    tansu, identity = await _identity_of(kafka.bootstrap)
    assert tansu is (kafka.kind == "tansu"), identity
    if kafka.kind == "tansu":
        assert identity.cluster_id == "tansu_cluster"  # the launcher sets none of its own
        assert identity.node_ids == {111}


async def test_a_tansu_with_its_own_cluster_id_is_recognised(renamed_tansu: EmbeddedBroker) -> None:
    tansu, identity = await _identity_of(renamed_tansu.bootstrap)
    assert identity.cluster_id == "ci-tooltrail"
    assert tansu is True


def _settings(kafka: KafkaEndpoint, names: Names) -> WorkerSettings:
    return WorkerSettings(
        kafka_bootstrap=kafka.bootstrap,
        events_topic=names.events,
        dlq_topic=names.dlq,
        enrichment_topic=names.enrichment,
        status_topic=names.events + ".status",
        topic_partitions=3,
        session_timeout_ms=int(SESSION_S * 1000),
        heartbeat_interval_ms=1000,
        retry_backoff_initial_s=0.1,
        retry_backoff_max_s=0.3,
        kafka_timeout_s=5,
        lag_interval_s=1,
    )


async def _members(settings: WorkerSettings, group: str) -> list[Any]:
    admin = AIOKafkaAdminClient(**settings.kafka_kwargs())
    await admin.start()
    try:  # one group per call: Tansu answers that (members come back without their details)
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    [described] = response.to_object()["groups"]
    return list(described["members"])


async def _first_member_stopped_in_generation_zero(settings: WorkerSettings, group: str) -> None:
    runner = GroupRunner(settings, group, InMemorySink())
    async with running(runner):
        # the listener runs inside consumer.start(), a moment before the runner keeps the consumer
        owns = lambda: runner.consumer is not None and runner.assigned == {0, 1, 2}  # noqa: E731
        await wait_for(owns, 30, "the member to own everything")
        assert runner.consumer is not None
        assert runner.consumer._coordinator.generation == 0  # the case under test
        assert len(await _members(settings, group)) == 1


@pytest.mark.parametrize("patched", [True, False])
async def test_a_worker_stopped_in_generation_zero_leaves_the_group_only_when_patched(
    kafka: KafkaEndpoint, names: Names, patched: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kafka.kind != "tansu":
        pytest.skip("only Tansu numbers a group's first generation 0")
    if not patched:  # the control: what aiokafka alone does on Tansu

        async def untouched(consumer: Any, timeout: float) -> bool:
            return False

        monkeypatch.setattr(
            tooltrail.consumers.runtime.runner, "patch_leave_group_if_tansu", untouched
        )
    settings = _settings(kafka, names)
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
    await _first_member_stopped_in_generation_zero(settings, names.group)
    assert len(await _members(settings, names.group)) == (0 if patched else 1)


async def test_a_worker_stopped_in_generation_zero_hands_its_partitions_over_at_once(
    kafka: KafkaEndpoint, names: Names
) -> None:
    if kafka.kind != "tansu":
        pytest.skip("only Tansu numbers a group's first generation 0")
    settings = _settings(kafka, names)
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
    await _first_member_stopped_in_generation_zero(settings, names.group)
    stopped = time.monotonic()
    second = GroupRunner(settings, names.group, InMemorySink())
    async with running(second):
        await wait_for(lambda: second.assigned == {0, 1, 2}, 30, "the next member to own all")
        took = time.monotonic() - stopped
    # the join wait (3 s), not the stopped member's session (6 s) plus the join wait
    assert took < SESSION_S, f"hand-over took {took:.1f}s"
