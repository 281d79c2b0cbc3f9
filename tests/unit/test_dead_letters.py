"""Dead letters that always fit and are never retried forever, whatever the record held.

Letters are checked the way Kafka would see them: encoded into a real record batch by
aiokafka's builder and read back, and measured as aiokafka's producer measures them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.errors import (
    InvalidTopicError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tooltrail.consumers.errors import DeadLetterError
from tooltrail.consumers.kafka import dlq
from tooltrail.consumers.kafka.dlq import (
    OURS,
    build_letter,
    original_headers,
    read_dead_letter,
    send_dead_letters,
)
from tooltrail.consumers.kafka.letters import Letter, minimal_letter


def _record(key: Any, value: Any, headers: Any, topic: Any = "t.events") -> Any:
    return ConsumerRecord(topic, 2, 41, 1_700_000_000_000, 0, key, value, None, 0, 0, headers)


def _on_the_wire(letter: Letter) -> Any:
    """The letter encoded into a record batch and read back, as a broker would store it."""
    assert not (letter.key is None and letter.value is None), "aiokafka refuses this"
    builder = DefaultRecordBatchBuilder(2, 0, -1, -1, -1, -1, 10 * 1024 * 1024)
    assert builder.append(0, 1_700_000_000_000, letter.key, letter.value, letter.headers)
    [record] = list(DefaultRecordBatch(bytes(builder.build())))
    return ConsumerRecord(
        "dlq", 0, 0, record.timestamp, 0, record.key, record.value, None, 0, 0, record.headers
    )


HEADER_NAMES = st.one_of(
    st.sampled_from(["trace", "error", "group", "value-null", "", "x"]),
    st.text(max_size=20),
    st.binary(max_size=40),  # names a fetch could not decode
    st.binary(min_size=1, max_size=8).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.integers(),
)
HEADER_VALUES = st.none() | st.binary(max_size=64) | st.integers(0, 9_000).map(b"h".__mul__)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.none() | st.binary(max_size=64) | st.integers(0, 30_000).map(b"k".__mul__),
    value=st.none() | st.binary(max_size=64) | st.integers(0, 200_000).map(b"v".__mul__),
    headers=st.none() | st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8),
    empties=st.sampled_from([0, 0, 1, 5_000]),
    error=st.text(max_size=1_500),
    budget=st.integers(4_096, 300_000),
)
def test_every_record_becomes_a_letter_that_fits_and_kafka_can_store(
    key: Any, value: Any, headers: Any, empties: int, error: str, budget: int
) -> None:
    if empties:
        headers = (headers or []) + [("", b"")] * empties
    record = _record(key, value, headers)
    letter = build_letter(record, "g", error, budget)
    assert letter.size <= budget
    back = _on_the_wire(letter)
    names = dict(back.headers)
    assert names["source-offset"] == b"41"
    assert len(names["error"]) <= 1000
    assert names["error"].decode().rstrip("…") in error  # the reason's head, whole characters
    count = len(headers or [])
    if "headers-dropped" in names:
        assert names["headers-dropped"] == str(count).encode()
        assert all(k in OURS for k, _ in back.headers)
    else:
        assert len([k for k, _ in back.headers if k not in OURS]) == count
    if key is None and value is None:
        assert names["value-null"] == b"1"
        assert read_dead_letter(back).truncated
    view = read_dead_letter(back)
    assert view.size == len(value or b"")
    assert view.key_size == len(key or b"")


def test_550_000_empty_headers_are_counted_with_their_framing_and_dropped() -> None:
    record = _record(None, None, [("", b"")] * 550_000)
    letter = build_letter(record, "g", "message has no value (tombstone)", 1_000_000)
    assert letter.size < 4_096
    names = dict(_on_the_wire(letter).headers)
    assert names["headers-dropped"] == b"550000"
    assert names["value-null"] == b"1"


def test_a_few_hundred_bytes_of_headers_whose_framing_is_large_are_dropped() -> None:
    # 6,000 one-byte names: 6 KB of names, 18 KB on the wire with their length varints
    headers = [("x", None)] * 6_000
    letter = build_letter(_record(b"k", b"v", headers), "g", "bad", 1_000_000)
    assert dict(letter.headers)["headers-dropped"] == b"6000"


def test_undecodable_header_names_get_placeholders_and_a_count() -> None:
    headers = [(b"\xff\xfe", b"a"), ("\udcff\udcfe", b"b"), ("ok", b"c"), (b"fine", b"d")]
    letter = build_letter(_record(b"k", b"v", headers), "g", "bad", 1_000_000)
    back = _on_the_wire(letter)
    names = dict(back.headers)
    assert names["undecodable-name-fffe"] in (b"a", b"b")
    assert [k for k, _ in back.headers if k not in OURS] == [
        "undecodable-name-fffe",
        "undecodable-name-fffe",
        "ok",
        "fine",
    ]
    assert names["headers-renamed"] == b"2"


def test_a_reason_is_cut_on_a_character_boundary_and_a_broken_one_still_goes() -> None:
    letter = build_letter(_record(b"k", b"v", []), "g", "é" * 800 + "\udcff", 1_000_000)
    error = dict(letter.headers)["error"]
    assert len(error) <= 1000
    error.decode()  # whole characters only
    broken = build_letter(_record(b"k", b"v", []), "g", "a\udcffb", 10_000)
    assert dict(broken.headers)["error"] == b"a?b"


def test_keys_and_values_of_any_type_are_carried_as_bytes() -> None:
    letter = build_letter(_record("text-key", memoryview(b"val"), (("h", "v"),)), "g", "x", 8192)
    assert (letter.key, letter.value) == (b"text-key", b"val")
    assert dict(letter.headers)["h"] == b"v"
    assert build_letter(_record(None, None, 42), "g", "x", 8192).value == b""  # not iterable

    def broken() -> Any:
        yield ("a", b"1")
        raise RuntimeError("a header set that fails half way")

    letter = build_letter(_record(b"k", b"v", broken()), "g", "x", 8192)
    assert dict(letter.headers)["headers-dropped"] == b"-1"


def test_original_headers_come_back_for_a_replay() -> None:
    headers = [("trace", b"t"), ("error", b"theirs"), ("value-null", None)]
    letter = build_letter(_record(b"k", b"v", headers), "g", "ours", 1_000_000)
    back = _on_the_wire(letter)
    assert dict(back.headers)["error"] == b"ours"
    assert original_headers(back) == [("trace", b"t"), ("error", b"theirs"), ("value-null", b"")]


def test_a_minimal_letter_keeps_the_counts_and_the_refusal() -> None:
    record = _record(b"k" * 10, b"v" * 99, [("a", b"b")] * 3)
    letter = minimal_letter(record, "g", "bad", "MessageSizeTooLargeError: too big")
    names = dict(_on_the_wire(letter).headers)
    assert (letter.key, letter.value) == (None, b"")
    assert names["key-truncated"] == b"10"
    assert names["value-truncated"] == b"99"
    assert names["headers-dropped"] == b"3"
    assert names["letter-refused"].startswith(b"MessageSizeTooLargeError")


class _Producer:
    """Stands in for aiokafka's producer: ``refuse(letter)`` returns an error or None."""

    def __init__(self, refuse: Callable[[Letter], BaseException | None], *, at_send: bool = False):
        self.refuse, self.at_send = refuse, at_send
        self.accepted: list[Letter] = []

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None, headers: list[Any]
    ) -> asyncio.Future[None]:
        assert not (value is None and key is None), "Need at least one: key or value"
        letter = Letter(key, value, headers)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        error = self.refuse(letter)
        if error is not None and self.at_send:
            raise error
        if error is None:
            self.accepted.append(letter)
            future.set_result(None)
        else:
            future.set_exception(error)
        return future


async def _send(producer: Any, records: list[Any], wait_s: float = 5) -> dlq.DeadLetterReport:
    failures = [(r, "bad") for r in records]
    return await send_dead_letters(producer, "dlq", "g", failures, 10**6, wait_s)


@pytest.mark.parametrize("at_send", [False, True])
@pytest.mark.parametrize("error", [MessageSizeTooLargeError, RecordTooLargeError])
async def test_a_letter_refused_for_its_size_shrinks_then_goes_minimal(
    error: type[Exception], at_send: bool
) -> None:
    producer = _Producer(lambda letter: error("big") if letter.value else None, at_send=at_send)
    good = _record(b"k", b"", [])
    report = await _send(producer, [_record(b"k", b"v" * 5000, [("h", b"1")]), good])
    assert (report.sent, report.reduced, report.unsendable) == (2, 1, [])
    minimal = dict(producer.accepted[-1].headers)
    assert minimal["value-truncated"] == b"5000"
    assert minimal["letter-refused"].startswith(error.__name__.encode())


async def test_a_record_no_letter_is_accepted_for_is_reported_not_retried() -> None:
    producer = _Producer(lambda letter: MessageSizeTooLargeError("tiny broker limit"))
    report = await _send(producer, [_record(None, None, []), _record(b"k", b"v", [])])
    assert report.sent == 0
    assert len(report.unsendable) == 2
    assert report.unsendable[0][1].startswith("no dead letter accepted: MessageSizeTooLargeError")


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (KafkaTimeoutError("late"), True),
        (KafkaConnectionError("down"), True),
        (NotLeaderForPartitionError("moved"), True),
        (TopicAuthorizationFailedError("no ACL"), False),
        (InvalidTopicError("bad name"), False),
        (RuntimeError("unknown"), False),
    ],
)
async def test_retriable_only_when_waiting_can_help(error: Exception, retriable: bool) -> None:
    with pytest.raises(DeadLetterError) as info:
        await _send(_Producer(lambda letter: error), [_record(b"k", b"v", [])])
    assert info.value.retriable is retriable
    assert type(error).__name__ in str(info.value)


async def test_an_unanswered_letter_is_a_retriable_timeout() -> None:
    class Silent(_Producer):
        async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[None]:
            return asyncio.get_running_loop().create_future()  # never answered

    with pytest.raises(DeadLetterError, match="not acknowledged within") as info:
        await _send(Silent(lambda letter: None), [_record(b"k", b"v", [])], wait_s=0.05)
    assert info.value.retriable is True


async def test_many_large_letters_go_in_slices_each_with_its_own_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dlq, "_SLICE_BYTES", 50_000)  # two letters of 20 KB per slice
    unanswered = [0, 0]  # now, most at once

    def answered(future: asyncio.Future[None]) -> None:
        unanswered[0] -= 1
        future.set_result(None)

    class Acking(_Producer):
        async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[None]:
            await super().send(*args, **kwargs)
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            unanswered[0] += 1
            unanswered[1] = max(unanswered)
            asyncio.get_running_loop().call_soon(answered, future)  # once the sender yields
            return future

    producer = Acking(lambda letter: None)
    report = await _send(producer, [_record(b"k", bytes([i]) * 20_000, []) for i in range(10)])
    assert report.sent == 10
    assert unanswered[1] == 2
    assert [letter.value[:1] for letter in producer.accepted] == [bytes([i]) for i in range(10)]
