"""Isolating what a sink rejects, dead letters that fit, and the blocking lane."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from aiokafka.errors import (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import make_event
from tests.kafka_helpers import wait_for
from tooltrail.consumers.errors import DeadLetterError, RetriableSinkError
from tooltrail.consumers.kafka.dlq import (
    MAX_KEY_BYTES,
    OURS,
    build_letter,
    original_headers,
    read_dead_letter,
    send_dead_letters,
)
from tooltrail.consumers.lanes import Lane
from tooltrail.consumers.runtime.delivery import Writer
from tooltrail.consumers.sinks.base import Delivered
from tooltrail.consumers.sinks.inmemory import InMemorySink


def _batch(n: int, poison: set[int] = frozenset()) -> list[Delivered]:  # type: ignore[assignment]
    return [
        Delivered(make_event(tool_id="poison" if i in poison else "oc_read_get_pods"), 0, i)
        for i in range(n)
    ]


def _never() -> float:
    return 0.0


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 120), data=st.data())
async def test_exactly_the_rejected_events_are_isolated(n: int, data: st.DataObject) -> None:
    poison = data.draw(st.sets(st.integers(0, n - 1), max_size=min(n, 6)))
    sink = InMemorySink(reject=lambda e: e.tool_id == "poison")
    batch = _batch(n, poison)
    rejected = await Writer(sink, 5).write(batch, asyncio.Event(), _never)
    assert rejected is not None
    assert sorted(d.offset for d, _ in rejected) == sorted(poison)
    assert all(why.startswith("sink:inmemory: SinkError: refused event ") for _, why in rejected)
    assert set(sink.written) == {d.event.event_id for d in batch if d.offset not in poison}
    if len(poison) == 1:  # a lone poison event costs about two writes per halving
        assert sink.writes <= 2 * n.bit_length() + 1


async def test_an_unavailable_sink_is_retried_not_blamed_on_events() -> None:
    sink = InMemorySink()
    sink.unavailable = 1
    with pytest.raises(RetriableSinkError):
        await Writer(sink, 5).write(_batch(10), asyncio.Event(), _never)
    assert sink.writes == 1  # no splitting on a retriable failure
    assert await Writer(sink, 5).write(_batch(10), asyncio.Event(), _never) == []
    assert len(sink.written) == 10


async def test_a_hung_write_times_out_as_retriable_and_stop_abandons_it() -> None:
    sink = InMemorySink()
    sink.hang = asyncio.Event()
    with pytest.raises(RetriableSinkError, match="did not finish a write within"):
        await Writer(sink, 0.05).write(_batch(3), asyncio.Event(), _never)
    stop = asyncio.Event()
    stop.set()
    started = time.monotonic()
    assert await Writer(sink, 30).write(_batch(3), stop, lambda: 0.05) is None
    assert time.monotonic() - started < 5  # the grace, not the sink timeout
    assert sink.written == {}


def _record(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
    return ConsumerRecord(
        "t.events", 2, 41, 0, 0, key, value, None, len(key or b""), len(value or b""), headers
    )


def _size(letter: Any) -> int:
    """What aiokafka's producer compares with ``max_request_size`` before sending."""
    return int(
        DefaultRecordBatchBuilder.estimate_size_in_bytes(letter.key, letter.value, letter.headers)
    )


@settings(max_examples=200, deadline=None)
@given(
    key=st.none() | st.integers(0, 20_000).map(lambda n: b"k" * n),
    value=st.none() | st.integers(0, 60_000).map(lambda n: b"v" * n),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["trace", "error", "group", "x"]),
            st.integers(0, 9_000).map(lambda n: b"h" * n),
        ),
        max_size=4,
    ),
    budget=st.integers(4_096, 50_000),
)
def test_a_dead_letter_always_fits_and_keeps_what_it_can(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]], budget: int
) -> None:
    letter = build_letter(_record(key, value, headers), "g", "not valid JSON", budget)
    assert _size(letter) <= budget
    names = dict(letter.headers)
    assert names["error"] == b"not valid JSON"
    assert names["source-offset"] == b"41"
    if key is not None and len(key) > min(MAX_KEY_BYTES, budget // 4):
        assert names["key-truncated"] == str(len(key)).encode()
        assert key.startswith(letter.key or b"")
    else:
        assert letter.key == key
    if value is not None and letter.value != value:
        assert names["value-truncated"] == str(len(value)).encode()
        assert value.startswith(letter.value or b"")
    if "headers-dropped" not in names:  # originals kept, clashing names prefixed
        kept = [(k, v) for k, v in letter.headers if k not in OURS]
        assert kept == [(f"original-{k}" if k in OURS else k, v) for k, v in headers]
        replayed = _record(letter.key, letter.value, letter.headers)
        assert original_headers(replayed) == headers
    view = read_dead_letter(_record(letter.key, letter.value, letter.headers))
    assert view.size == len(value or b"")
    assert view.truncated == (letter.value != value or letter.key != key)


def test_a_900_kb_key_is_cut_to_fit() -> None:
    letter = build_letter(_record(b"k" * 900_000, b"{}", []), "g", "bad", 1_000_000)
    assert len(letter.key or b"") == MAX_KEY_BYTES
    assert dict(letter.headers)["key-truncated"] == b"900000"
    assert letter.value == b"{}"


async def test_lane_runs_calls_in_order_on_a_daemon_thread_and_survives_a_cancelled_waiter() -> (
    None
):
    lane = Lane("t")
    seen: list[str] = []
    release = threading.Event()

    def slow() -> str:
        release.wait(5)
        seen.append("slow")
        return "slow"

    waiter = asyncio.ensure_future(lane.run(slow))
    await wait_for(lambda: lane.busy, 5, "the slow call to start")
    waiter.cancel()  # the waiting stops; the call goes on in the lane
    follow = asyncio.ensure_future(lane.run(lambda: seen.append("next") or "next"))
    await asyncio.sleep(0.05)
    assert seen == []  # "next" waits behind the running call
    assert not follow.done()
    release.set()
    assert await follow == "next"
    assert seen == ["slow", "next"]
    assert all(t.daemon for t in threading.enumerate() if t.name == "lane-t")
    with pytest.raises(ZeroDivisionError):
        await lane.run(lambda: 1 / 0)
    lane.close()


class _Broker:
    """Stands in for a broker whose size limit is lower than ours (answers via the future)."""

    def __init__(self, limit: int, error: type[Exception]) -> None:
        self.limit, self.error = limit, error
        self.accepted: list[tuple[bytes | None, list[tuple[str, bytes]]]] = []

    async def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if len(value or b"") > self.limit:
            future.set_exception(self.error("too large for this broker"))
        else:
            self.accepted.append((value, headers))
            future.set_result(None)
        return future


@pytest.mark.parametrize("error", [MessageSizeTooLargeError, RecordTooLargeError])
async def test_a_letter_the_broker_finds_too_large_is_resent_small(error: type[Exception]) -> None:
    broker = _Broker(limit=2048, error=error)
    record = _record(b"k", b"v" * 500_000, [("trace", b"t")])
    await send_dead_letters(broker, "dlq", "g", [(record, "over the limit")], 1_000_000, 5)  # type: ignore[arg-type]
    [(value, headers)] = broker.accepted
    assert value == b"v" * 1024
    assert dict(headers)["value-truncated"] == b"500000"
    assert dict(headers)["trace"] == b"t"


async def test_a_letter_refused_for_another_reason_is_a_dead_letter_error() -> None:
    class Refusing(_Broker):
        async def send(
            self,
            topic: str,
            value: bytes | None,
            *,
            key: bytes | None,
            headers: list[tuple[str, bytes]],
        ) -> asyncio.Future[None]:
            raise TopicAuthorizationFailedError("not allowed")

    with pytest.raises(DeadLetterError, match="TopicAuthorizationFailedError") as info:
        await send_dead_letters(
            Refusing(0, Exception),
            "dlq",
            "g",  # type: ignore[arg-type]
            [(_record(None, b"x", []), "bad")],
            10_000,
            5,
        )
    assert info.value.retriable is False
