"""Every rule the runner's docstring promises, on the in-memory Kafka stand-in.

Each test runs a real ``GroupRunner`` (consumer group, dead-letter producer, watcher, lag
probe) against a ``memory://`` broker and a ``InMemorySink``, and checks what is on the
topics, in the sink and in the group's commits; faults come from the broker's switches.
The same rules are proven end to end on a real broker by the integration and reliability
tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import NotEnoughReplicasError, TopicAuthorizationFailedError

from tests.factories import make_event
from tests.kafka_helpers import wait_for
from tooltrail.consumers.runtime import runner as runner_module
from tooltrail.consumers.runtime.delivery import within
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.inmemory import InMemorySink
from tooltrail.schemas.events import ToolExecutionEvent
from tooltrail.schemas.kafka.batches import RawRecord
from tooltrail.schemas.kafka.clients import kafka_producer
from tooltrail.schemas.kafka.memory import MemoryBroker

EV, DLQ, GROUP = "ev", "dlq", "g"


@pytest.fixture
def settings(memory_kafka: MemoryBroker) -> WorkerSettings:
    return WorkerSettings(
        kafka_bootstrap=f"memory://{memory_kafka.name}",
        events_topic=EV,
        dlq_topic=DLQ,
        enrichment_topic="en",
        status_topic="st",
        topic_partitions=3,
        session_timeout_ms=1000,
        heartbeat_interval_ms=300,
        retry_backoff_initial_s=0.01,
        retry_backoff_max_s=0.05,
        connect_backoff_max_s=0.05,
        kafka_timeout_s=1,
        lag_interval_s=0.05,
        shutdown_grace_s=1,
        stuck_after_s=60,
    )


@contextlib.asynccontextmanager
async def running(runner: GroupRunner) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def produce(settings: WorkerSettings, events: list[ToolExecutionEvent]) -> None:
    producer = kafka_producer(settings.kafka_kwargs())
    await producer.start()
    try:
        for e in events:
            await producer.send(EV, e.model_dump_json(by_alias=True).encode(), key=b"k")
        await producer.flush()
    finally:
        await producer.stop()


def committed(broker: MemoryBroker) -> int:
    return sum(broker.committed(GROUP, TopicPartition(EV, p)) or 0 for p in range(3))


def letters(broker: MemoryBroker) -> list[dict[str, bytes | None]]:
    if DLQ not in broker.topic_names():
        return []
    return [{k.decode(): v for k, v in r.headers} for _, r in broker.records(DLQ)]


async def started(broker: MemoryBroker, runner: GroupRunner) -> None:
    await wait_for(lambda: EV in broker.topic_names() and runner.assigned, 5, "the member")


# --- writing, isolating, committing ---------------------------------------------------------------
async def test_rejected_events_are_dead_lettered_and_the_rest_committed(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    sink = InMemorySink(reject=lambda e: e.tool_id == "oc_poison")
    runner = GroupRunner(settings, GROUP, sink)
    good = [make_event() for _ in range(40)]
    bad = [make_event(tool_id="oc_poison") for _ in range(3)]
    async with running(runner):
        await started(memory_kafka, runner)
        await produce(settings, good[:20] + bad + good[20:])
        await wait_for(lambda: committed(memory_kafka) == 43, 5, "everything committed")
    assert set(sink.written) == {e.event_id for e in good}
    found = letters(memory_kafka)
    assert sorted((d["error"] or b"").decode().rsplit(" ", 1)[1] for d in found) == sorted(
        e.event_id for e in bad
    )
    assert all((d["error"] or b"").startswith(b"sink:inmemory: SinkError") for d in found)
    assert (runner.stats.rejected, runner.stats.dead_lettered) == (3, 3)


async def test_a_sink_down_is_retried_paused_and_nothing_committed_past_it(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    sink = InMemorySink()
    sink.unavailable = 10**6
    runner = GroupRunner(settings, GROUP, sink)
    events = [make_event() for _ in range(10)]
    async with running(runner):
        await started(memory_kafka, runner)
        await produce(settings, events)
        await wait_for(lambda: runner.stats.retries >= 5, 5, "retries")
        assert runner.consumer is not None
        assert runner.consumer.paused() == runner.consumer.assignment()
        assert committed(memory_kafka) == 0
        assert runner.stats.retrying_since is not None
        sink.unavailable = 0
        await wait_for(lambda: committed(memory_kafka) == 10, 5, "the batch committed")
    assert set(sink.written) == {e.event_id for e in events}
    assert runner.stats.retrying_since is None


async def test_nothing_is_committed_before_the_dead_letters_are_acknowledged(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    runner = GroupRunner(settings, GROUP, InMemorySink())
    async with running(runner):
        await started(memory_kafka, runner)
        memory_kafka.faults.hold_acks()
        producer = kafka_producer(settings.kafka_kwargs())
        await producer.start()
        await producer.send(EV, b"not json", key=b"k")
        await producer.send(EV, make_event().model_dump_json(by_alias=True).encode(), key=b"k")
        await wait_for(lambda: len(letters(memory_kafka)) == 1, 5, "the letter written")
        await asyncio.sleep(0.2)  # a wrong runner would commit now, before the ack
        assert committed(memory_kafka) == 0
        memory_kafka.faults.release_acks()
        await producer.stop()
        await wait_for(lambda: committed(memory_kafka) == 2, 5, "the batch committed")
    assert runner.stats.dead_lettered == 1


async def test_a_letter_refused_for_a_while_is_retried_and_one_refused_for_good_is_skipped(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    sink = InMemorySink()
    runner = GroupRunner(settings, GROUP, sink)
    good = [make_event() for _ in range(4)]
    async with running(runner):
        await started(memory_kafka, runner)
        memory_kafka.faults.refuse(DLQ, NotEnoughReplicasError)  # retriable: wait
        await produce(settings, good[:2])
        await wait_for(lambda: committed(memory_kafka) == 2, 5, "the good ones committed")
        raw = kafka_producer(settings.kafka_kwargs())
        await raw.start()
        await (await raw.send(EV, b"poison-1", key=b"k"))
        await wait_for(lambda: runner.stats.retries >= 3, 5, "retries")
        assert committed(memory_kafka) == 2  # not past the letter that waits
        memory_kafka.faults.refuse(DLQ, TopicAuthorizationFailedError)  # for good: skip
        await wait_for(lambda: runner.stats.letters_lost == 1, 5, "the letter counted lost")
        await (await raw.send(EV, b"poison-2", key=b"k"))
        await raw.stop()
        await produce(settings, good[2:])
        await wait_for(lambda: committed(memory_kafka) == 6, 5, "the group past both")
    assert runner.stats.letters_lost == 2
    assert set(sink.written) == {e.event_id for e in good}


async def test_a_record_without_key_or_value_costs_no_neighbour(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    sink = InMemorySink()
    runner = GroupRunner(settings, GROUP, sink)
    before, after = make_event(), make_event()
    async with running(runner):
        await started(memory_kafka, runner)
        memory_kafka.append(
            EV,
            [
                RawRecord(b"k", before.model_dump_json(by_alias=True).encode()),
                RawRecord(None, None),
                RawRecord(b"k", after.model_dump_json(by_alias=True).encode()),
            ],
            partition=0,
        )
        await wait_for(lambda: committed(memory_kafka) == 3, 5, "the batch committed")
    assert set(sink.written) == {before.event_id, after.event_id}
    assert runner.stats.dead_lettered + runner.stats.letters_lost == 1


@pytest.mark.parametrize(
    ("poison", "compression", "reason"),
    [
        (
            RawRecord(b"k", b"{}", [(b"\xff", b"x")]),
            "none",
            "header name(s) of the record are not UTF-8",
        ),
        (RawRecord(b"k", b"{}" * 2_000_000), "gzip", "a gzip batch of 1 records inflates beyond"),
    ],
)
async def test_a_record_the_fetch_cannot_read_is_dead_lettered_and_its_neighbours_written(
    memory_kafka: MemoryBroker,
    settings: WorkerSettings,
    poison: RawRecord,
    compression: str,
    reason: str,
) -> None:
    sink = InMemorySink()
    tight = settings.model_copy(update={"max_batch_bytes": 1_048_576})
    runner = GroupRunner(tight, GROUP, sink)
    before, after = make_event(), make_event()
    async with running(runner):
        await started(memory_kafka, runner)
        for record in (
            RawRecord(b"k", before.model_dump_json(by_alias=True).encode()),
            poison,
            RawRecord(b"k", after.model_dump_json(by_alias=True).encode()),
        ):
            memory_kafka.append(EV, [record], partition=0, compression=compression)
        await wait_for(lambda: committed(memory_kafka) == 3, 5, "the three committed")
    assert set(sink.written) == {before.event_id, after.event_id}
    (letter,) = letters(memory_kafka)
    assert reason in (letter["error"] or b"").decode()
    assert letter["source-offset"] == b"1"


class CountingSink(InMemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    async def write(self, batch: list[Any]) -> None:
        self.batches.append(len(batch))
        await super().write(batch)


async def test_a_turn_decodes_at_most_max_batch_bytes_and_reads_the_rest_next(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    sink = CountingSink()
    runner = GroupRunner(settings.model_copy(update={"max_batch_bytes": 1_048_576}), GROUP, sink)
    events = [make_event(args={"blob": "x" * 400_000}) for _ in range(6)]
    async with running(runner):
        await started(memory_kafka, runner)
        memory_kafka.append(  # one batch of 2.4 MB: one fetch
            EV,
            [RawRecord(b"k", e.model_dump_json(by_alias=True).encode()) for e in events],
            partition=0,
        )
        await wait_for(lambda: committed(memory_kafka) == 6, 10, "everything committed")
    assert set(sink.written) == {e.event_id for e in events}
    assert max(sink.batches) == 2  # 3 would be 1.2 MB
    assert sum(sink.batches) == 6


def test_within_keeps_a_prefix_per_partition_and_says_where_to_read_again() -> None:
    def rec(p: int, offset: int, size: int) -> Any:
        return SimpleNamespace(partition=p, offset=offset, key=b"k", value=b"v" * size, headers=[])

    a, b = TopicPartition(EV, 0), TopicPartition(EV, 1)
    data = {a: [rec(0, 5, 99), rec(0, 6, 99)], b: [rec(1, 9, 99), rec(1, 10, 99)]}
    kept, again = within(data, 300)
    assert {tp: [r.offset for r in rs] for tp, rs in kept.items()} == {a: [5, 6], b: [9]}
    assert again == {b: 10}
    huge = {a: [rec(0, 1, 10_000)]}
    assert within(huge, 300) == (huge, {})  # one record always goes through


def _fail_decoding_once(monkeypatch: pytest.MonkeyPatch) -> list[Exception]:
    """Make the runner's next decoding raise; the list empties once it has."""
    real = runner_module.decode_records
    failures: list[Exception] = [RuntimeError("a bug in decoding")]

    def decode_once_wrong(records: list[Any], *limits: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(records, *limits)

    monkeypatch.setattr(runner_module, "decode_records", decode_once_wrong)
    return failures


async def test_a_turn_that_fails_unexpectedly_reads_its_batch_again(
    memory_kafka: MemoryBroker, settings: WorkerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = _fail_decoding_once(monkeypatch)
    sink = InMemorySink()
    runner = GroupRunner(settings, GROUP, sink)
    first, second = [make_event() for _ in range(5)], [make_event() for _ in range(5)]
    async with running(runner):
        await started(memory_kafka, runner)
        await produce(settings, first)
        await wait_for(lambda: not failures, 5, "the failing turn")
        await produce(settings, second)  # a wrong runner commits past the first batch here
        await wait_for(lambda: committed(memory_kafka) == 10, 5, "everything committed")
    assert set(sink.written) == {e.event_id for e in first + second}
    assert runner.stats.last_error == "RuntimeError: a bug in decoding"


# --- rebalances, stop, readiness ---------------------------------------------------------------
async def test_a_batch_in_retry_is_abandoned_on_a_rebalance_and_read_by_the_next_owner(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    first_sink = InMemorySink()
    first_sink.unavailable = 10**6
    first = GroupRunner(settings, GROUP, first_sink)
    events = [make_event(session_id=f"s{i}") for i in range(30)]
    async with running(first):
        await started(memory_kafka, first)
        producer = kafka_producer(settings.kafka_kwargs())
        await producer.start()
        for e in events:  # spread over the 3 partitions by key
            await producer.send(
                EV, e.model_dump_json(by_alias=True).encode(), key=e.event_id.encode()
            )
        await producer.stop()
        await wait_for(lambda: first.stats.retries >= 2, 5, "the first member retrying")
        second_sink = InMemorySink()
        second = GroupRunner(settings, GROUP, second_sink)
        async with running(second):
            await wait_for(lambda: bool(second.assigned), 5, "the second member assigned")
            first_sink.unavailable = 0  # the first member's sink is back after the rebalance
            await wait_for(lambda: committed(memory_kafka) == 30, 5, "everything committed")
            mine, theirs = set(first.assigned), set(second.assigned)
    where = {orjson.loads(r.value)["eventId"]: p for p, r in memory_kafka.records(EV)}
    assert mine
    assert theirs
    assert {where[i] for i in first_sink.written} <= mine  # the old batch was not written
    assert {where[i] for i in second_sink.written} <= theirs
    assert set(first_sink.written) | set(second_sink.written) == {e.event_id for e in events}


async def test_records_handed_over_while_paused_after_a_rebalance_are_read_again(
    memory_kafka: MemoryBroker, settings: WorkerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn fails and the runner waits with its partitions paused; the group rebalances
    meanwhile and gives the partition back unpaused, so the wait's poll is handed the
    batch again (from the commit). It must be read again, not dropped: the position would
    be past it, the next commit past a poison record whose letter was never sent."""
    failures = _fail_decoding_once(monkeypatch)
    waits = settings.model_copy(update={"retry_backoff_max_s": 1.0})  # the wait after a failure
    sink = InMemorySink()
    runner = GroupRunner(waits, GROUP, sink)
    first, second = [make_event() for _ in range(4)], [make_event() for _ in range(4)]
    producer = kafka_producer(settings.kafka_kwargs())
    async with running(runner):
        await started(memory_kafka, runner)
        await producer.start()
        try:
            for e in [*first[:2], None, *first[2:]]:  # a tombstone among valid events
                value = None if e is None else e.model_dump_json(by_alias=True).encode()
                await producer.send(EV, value, key=b"k")
            await producer.flush()
            await wait_for(lambda: not failures, 5, "the failing turn")
            seen = runner.member.rebalances
            with memory_kafka.lock:  # the member is given its partition again, unpaused
                memory_kafka.group(GROUP).prepare()
            memory_kafka.changes.notify()
            await wait_for(lambda: runner.member.rebalances >= seen + 2, 5, "the rebalance")
            for e in second:
                await producer.send(EV, e.model_dump_json(by_alias=True).encode(), key=b"k")
            await producer.flush()
        finally:
            await producer.stop()
        await wait_for(lambda: committed(memory_kafka) == 9, 5, "everything committed")
        await wait_for(lambda: len(sink.written) >= 8, 5, "every event written")
    assert set(sink.written) == {e.event_id for e in first + second}
    tombstone = {
        d["source-offset"] for d in letters(memory_kafka) if b"tombstone" in (d["error"] or b"")
    }
    assert tombstone == {b"2"}  # its letter sent (at least once), not lost with the batch
    assert runner.stats.letters_lost == 0


async def test_a_turn_that_fails_before_decoding_reads_its_fetch_again(
    memory_kafka: MemoryBroker, settings: WorkerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What fails between the fetch and the decoding (here: cutting the fetch to the batch
    bound) must not skip the fetched records: the position is already past them."""
    failures = [RuntimeError("a bug in the batch bound")]

    def within_once_wrong(data: Any, limit: int) -> Any:
        if failures and any(data.values()):
            raise failures.pop()
        return within(data, limit)

    monkeypatch.setattr(runner_module, "within", within_once_wrong)
    waits = settings.model_copy(update={"retry_backoff_max_s": 0.2})
    sink = InMemorySink()
    runner = GroupRunner(waits, GROUP, sink)
    events = [make_event() for _ in range(5)]
    async with running(runner):
        await started(memory_kafka, runner)
        await produce(settings, events)
        await wait_for(lambda: not failures, 5, "the failing turn")
        await wait_for(lambda: committed(memory_kafka) == 5, 5, "everything committed")
    assert sorted(sink.written) == sorted(e.event_id for e in events)
    assert runner.stats.last_error == "RuntimeError: a bug in the batch bound"


async def test_stop_during_a_hung_write_returns_within_the_grace_and_commits_nothing(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    sink = InMemorySink()
    sink.hang = asyncio.Event()
    runner = GroupRunner(settings, GROUP, sink)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await started(memory_kafka, runner)
        await produce(settings, [make_event() for _ in range(3)])
        await wait_for(lambda: sink.writes >= 1, 5, "a write to hang")
        stop.set()
        await asyncio.wait_for(task, settings.shutdown_grace_s * 2)  # the grace, with room
    finally:
        sink.hang.set()
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
    assert sink.written == {}
    assert sink.closed
    assert committed(memory_kafka) == 0


async def test_a_group_stuck_retrying_is_not_ready_until_it_recovers(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    sink = InMemorySink()
    sink.unavailable = 10**6
    runner = GroupRunner(settings.model_copy(update={"stuck_after_s": 0.2}), GROUP, sink)
    async with running(runner):
        await started(memory_kafka, runner)
        assert runner.stats.ready
        await produce(settings, [make_event()])
        await wait_for(lambda: runner.stats.stuck, 5, "the group stuck")
        assert not runner.stats.ready
        sink.unavailable = 0
        await wait_for(lambda: runner.stats.ready, 5, "the group ready again")


async def test_kafka_down_at_start_is_waited_out(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    memory_kafka.faults.go_down()
    sink = InMemorySink()
    runner = GroupRunner(settings, GROUP, sink)
    async with running(runner) as task:
        await wait_for(lambda: runner.stats.retries >= 3, 5, "connection attempts")
        assert not task.done()
        assert not runner.stats.connected
        assert (runner.stats.last_error or "").startswith("kafka unreachable")
        memory_kafka.faults.come_back()
        await started(memory_kafka, runner)
        event = make_event()
        await produce(settings, [event])
        await wait_for(lambda: event.event_id in sink.written, 5, "the event written")
        assert runner.stats.connected


# --- topics created again ------------------------------------------------------------------------
async def test_topics_lost_in_a_restart_are_created_again_and_read_from_the_start(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    sink = InMemorySink()
    runner = GroupRunner(settings, GROUP, sink)
    async with running(runner):
        await started(memory_kafka, runner)
        await produce(settings, [make_event() for _ in range(8)])
        await wait_for(lambda: committed(memory_kafka) == 8, 5, "the first events committed")
        memory_kafka.restart()  # Tansu without storage: topics, offsets and groups gone
        await wait_for(lambda: EV in memory_kafka.topic_names(), 5, "the topic created again")
        after = [make_event() for _ in range(3)]
        await produce(settings, after)
        await wait_for(lambda: all(e.event_id in sink.written for e in after), 5, "new events")
        await wait_for(lambda: committed(memory_kafka) == 3, 5, "commits on the new topic")


async def test_a_topic_recreated_elsewhere_is_read_from_the_start(
    memory_kafka: MemoryBroker, settings: WorkerSettings
) -> None:
    memory_kafka.quiet_past_end = True  # position 8 on the new topic is no error: just empty
    sink = InMemorySink()
    runner = GroupRunner(settings, GROUP, sink)
    async with running(runner):
        await started(memory_kafka, runner)
        await produce(settings, [make_event() for _ in range(8)])
        await wait_for(lambda: committed(memory_kafka) == 8, 5, "the first events committed")
        memory_kafka.recreate_topic(EV)
        after = [make_event() for _ in range(3)]
        await produce(settings, after)
        await wait_for(lambda: all(e.event_id in sink.written for e in after), 5, "new events")
        await wait_for(lambda: committed(memory_kafka) == 3, 5, "commits on the new topic")
