"""After a broker restart: a stray ``CancelledError`` ends nothing, an old commit skips nothing.

aiokafka's ``stop()`` re-raises the cancellation of its own tasks after a broker restart;
it once ended the worker's watcher silently, so lost topics were never created again. And a
commit retried after the restart landed on the topic created again and skipped its events.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError

from tooltrail.consumers.kafka import topics as topics_module
from tooltrail.consumers.kafka.topics import creations
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.runtime.member import MemberState
from tooltrail.consumers.runtime.watch import Watcher
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.aio import cancelled_here, settle, stop_kafka


async def _stray_cancel() -> None:
    inner = asyncio.get_running_loop().create_future()
    inner.cancel()
    await inner  # raises CancelledError although nobody cancelled the caller


async def test_settle_returns_a_stray_cancellation_instead_of_raising_it() -> None:
    failure = await settle(_stray_cancel(), 1.0)
    assert isinstance(failure, asyncio.CancelledError)
    assert not cancelled_here()


async def test_settle_returns_errors_and_timeouts_and_none_on_success() -> None:
    async def boom() -> None:
        raise OSError("disk gone")

    assert isinstance(await settle(boom(), 1.0), OSError)
    assert isinstance(await settle(asyncio.sleep(5), 0.01), TimeoutError)
    assert await settle(asyncio.sleep(0), 1.0) is None


async def test_settle_lets_the_callers_own_cancellation_through() -> None:
    started = asyncio.Event()

    async def closing() -> None:
        started.set()
        await asyncio.sleep(30)

    task = asyncio.create_task(settle(closing(), 60.0))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


class _Consumer:
    """Stands for aiokafka's consumer after a restart: metadata fails once, stop re-raises."""

    calls = 0
    stopped = 0

    async def topics(self) -> set[str]:
        _Consumer.calls += 1
        if _Consumer.calls == 1:
            raise ConnectionError("broker restarted")
        return set()

    async def stop(self) -> None:
        _Consumer.stopped += 1
        await _stray_cancel()


class _Reporter:
    def __init__(self) -> None:
        self.reports = 0

    async def report(self, stats: Any, interval: float, stopping: bool = False) -> None:
        self.reports += 1


async def test_the_watcher_outlives_a_probe_whose_stop_raises_cancelled_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[list[str]] = []

    async def ensure(settings: WorkerSettings) -> list[str]:
        created.append([settings.events_topic])
        return [settings.events_topic]

    monkeypatch.setattr("tooltrail.consumers.runtime.watch.ensure_pipeline_topics", ensure)
    settings = WorkerSettings(lag_interval_s=0.01)
    member = MemberState("g", settings.events_topic, GroupStats("g"), 1.0)
    reporter = _Reporter()
    watcher = Watcher(member, settings, reporter)  # type: ignore[arg-type]
    probe = watcher.probe

    async def client() -> _Consumer:
        probe._consumer = _Consumer()
        return probe._consumer

    monkeypatch.setattr(probe, "_client", client)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    for _ in range(500):
        if created:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert _Consumer.stopped >= 1  # the failed tick stopped the probe: CancelledError
    assert created  # and the next tick still ran and created the missing topics again
    assert not task.cancelled()
    assert reporter.reports >= 2


class _CommitConsumer:
    """Records commits; the first one fails as during a broker restart."""

    def __init__(self, tp: TopicPartition) -> None:
        self.tp = tp
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail_next = True

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise UnknownTopicOrPartitionError()
        self.commits.append(dict(offsets))


async def test_a_failed_commit_is_never_replayed_onto_a_topic_created_again() -> None:
    member = MemberState("g", "events", GroupStats("g"), 1.0)
    tp = TopicPartition("events", 0)
    consumer = _CommitConsumer(tp)
    member.consumer = consumer  # type: ignore[assignment]
    member.written([_record(tp, 34)])  # written before the broker restarted
    await member.commit()  # fails: the topic is gone
    await member.commit()  # the topic exists again, empty: 35 would skip 35 events
    assert consumer.commits == []
    assert member.stats.committed.get(0) is None
    member.written([_record(tp, 2)])  # the next batch, read from the new topic
    await member.commit()
    assert consumer.commits == [{tp: 3}]
    assert member.stats.committed == {0: 3}


class _SeekConsumer:
    """Owns partitions 0 and 1; reports ends; records seeks to the beginning."""

    def __init__(self, topic: str) -> None:
        self.tps = {TopicPartition(topic, 0), TopicPartition(topic, 1)}
        self.ends: dict[TopicPartition, int] = {}
        self.seeks: list[set[TopicPartition]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.tps)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends.get(tp)

    async def seek_to_beginning(self, *tps: TopicPartition) -> bool:
        self.seeks.append(set(tps))
        return True


def _record(tp: TopicPartition, offset: int) -> Any:
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset)


async def test_a_topic_created_again_in_this_process_is_read_from_the_start() -> None:
    topic = "events"
    member = MemberState("g", topic, GroupStats("g"), 1.0)
    consumer = _SeekConsumer(topic)
    p0 = TopicPartition(topic, 0)
    member.count_creations()
    assert not await member.recreated(consumer)  # type: ignore[arg-type]
    member.written([_record(p0, 100)])
    topics_module._creations[topic] = creations(topic) + 1  # a watcher did it
    try:
        assert await member.recreated(consumer)  # type: ignore[arg-type]
        assert consumer.seeks == [consumer.tps]
        member.consumer = consumer  # type: ignore[assignment]
        await member.commit()  # offset 101 of the old topic is never committed
        assert not await member.recreated(consumer)  # type: ignore[arg-type]  # once per creation
    finally:
        topics_module._creations.pop(topic, None)


async def test_a_partition_shorter_than_what_was_read_is_found() -> None:
    topic = "events"
    member = MemberState("g", topic, GroupStats("g"), 1.0)
    consumer = _SeekConsumer(topic)
    p0, p1 = sorted(consumer.tps)
    consumer.ends = {p0: 102, p1: 6}
    member.read([_record(p0, 100), _record(p0, 101), _record(p1, 5)])
    assert member.shorter(consumer) == []  # type: ignore[arg-type]
    consumer.ends = {p0: 40, p1: 7}  # p0 created again elsewhere and already holds 40 events
    assert member.shorter(consumer) == [p0]  # type: ignore[arg-type]
    assert member.stats.highwater == {0: 40, 1: 7}


class _Network:
    closed = 0

    async def close(self) -> None:
        self.closed += 1


class _Client:
    """An aiokafka client whose ``stop()`` ends as given, holding a network client."""

    def __init__(self, ending: Any, attribute: str = "_client") -> None:
        self.ending = ending
        self.network = _Network()
        setattr(self, attribute, self.network)

    async def stop(self) -> None:
        await self.ending()


@pytest.mark.parametrize("attribute", ["_client", "client"])  # consumer, producer
async def test_stop_kafka_closes_the_connections_when_stop_ends_in_a_stray_cancellation(
    attribute: str,
) -> None:
    client = _Client(_stray_cancel, attribute)
    failure = await settle(stop_kafka(client), 1.0)
    assert isinstance(failure, asyncio.CancelledError)
    assert client.network.closed == 1


async def test_stop_kafka_closes_the_connections_when_stop_times_out_or_fails() -> None:
    hanging = _Client(lambda: asyncio.sleep(30))
    assert isinstance(await settle(stop_kafka(hanging), 0.05), TimeoutError)
    assert hanging.network.closed == 1

    async def boom() -> None:
        raise OSError("broker gone")

    failing = _Client(boom)
    assert isinstance(await settle(stop_kafka(failing), 1.0), OSError)
    assert failing.network.closed == 1


async def test_stop_kafka_leaves_a_clean_stop_alone_and_keeps_the_callers_cancellation() -> None:
    clean = _Client(lambda: asyncio.sleep(0))
    assert await settle(stop_kafka(clean), 1.0) is None
    assert clean.network.closed == 0  # stop() closed its own connections

    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)

    cancelled = _Client(slow)
    task = asyncio.create_task(settle(stop_kafka(cancelled), 60.0))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.network.closed == 1
