"""The fetch guard: a guarded consumer reads past anything a topic can hold, each record it
cannot read handed out with its reason, no neighbour lost, no batch inflated past its bound."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.record.util import calc_crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tooltrail.schemas.kafka.batches import RawRecord, encode_batch
from tooltrail.schemas.kafka.clients import kafka_consumer
from tooltrail.schemas.kafka.guard import UnreadableRecord, unreadable_reason
from tooltrail.schemas.kafka.memory import MemoryBroker

T = "t"
TP = TopicPartition(T, 0)


@pytest.fixture
async def reader(memory_kafka: MemoryBroker) -> AsyncIterator[Any]:
    memory_kafka.create_topic(T, 1)
    consumer = kafka_consumer(
        {"bootstrap_servers": f"memory://{memory_kafka.name}"},
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_batch_bytes=1_048_576,
    )
    await consumer.start()
    consumer.assign([TP])
    yield consumer
    await consumer.stop()


async def read_all(reader: Any, end: int) -> list[Any]:
    got: list[Any] = []
    for _ in range(50):
        got += (await reader.getmany(timeout_ms=20)).get(TP, [])
        if await reader.position(TP) >= end:
            break
    return got


def described(records: list[Any]) -> list[tuple[int, bytes | None, str | None]]:
    """Offset, value (an unreadable batch's value: its first 8 bytes, the base offset) and
    reason of each record."""
    return [
        (
            r.offset,
            r.value if unreadable_reason(r) is None or r.value is None else r.value[:8],
            unreadable_reason(r),
        )
        for r in records
    ]


async def test_a_header_name_that_is_not_utf8_costs_no_neighbour(
    memory_kafka: MemoryBroker, reader: Any
) -> None:
    bad = RawRecord(b"k", b"bad", [(b"\xff\xfe", b"x"), ("fine", b"y")])
    memory_kafka.append(T, [RawRecord(b"k", b"before"), bad, RawRecord(b"k", b"after")])
    got = await read_all(reader, 3)
    assert described(got) == [
        (0, b"before", None),
        (1, b"bad", "kafka: 1 header name(s) of the record are not UTF-8"),
        (2, b"after", None),
    ]
    assert got[1].key == b"k"
    assert list(got[1].headers) == [("\\xff\\xfe", b"x"), ("fine", b"y")]  # escaped, kept


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_a_batch_inflating_past_the_bound_is_one_unreadable_record_and_read_past(
    memory_kafka: MemoryBroker, reader: Any, codec: str
) -> None:
    bomb = [RawRecord(None, b"{}" * 400_000) for _ in range(20)]  # 16 MB inflated
    memory_kafka.append(T, bomb, compression=codec)
    memory_kafka.append(T, [RawRecord(b"k", b"next")], compression=codec)
    tracemalloc.start()
    try:
        got = await read_all(reader, 21)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    why = f"kafka: a {codec} batch of 20 records inflates beyond 1048576 bytes"
    assert described(got)[:2] == [
        (0, bytes(8), why),
        (1, b"", f"{why} (not read; the batch is with offset 0)"),
    ]
    assert [(r.offset, unreadable_reason(r) is None) for r in got] == [
        *((i, False) for i in range(20)),
        (20, True),
    ]
    assert got[20].value == b"next"
    assert len(got[0].value) < 1_048_576  # the compressed batch, not what it inflates to
    assert peak < 8_000_000, f"{peak} bytes held to read past a 16 MB bomb"


async def test_a_batch_that_fails_its_crc_is_one_unreadable_record(
    memory_kafka: MemoryBroker, reader: Any
) -> None:
    batch = bytearray(encode_batch([RawRecord(b"k", b"v1"), RawRecord(b"k", b"v2")]))
    batch[-1] ^= 0xFF  # a flipped bit in the last record
    memory_kafka.produce(TP, bytes(batch))
    memory_kafka.append(T, [RawRecord(b"k", b"next")])
    got = await read_all(reader, 3)
    why = "kafka: a record batch fails its CRC check"
    assert described(got) == [
        (0, bytes(8), why),
        (1, b"", f"{why} (not read; the batch is with offset 0)"),
        (2, b"next", None),
    ]


async def test_a_malformed_batch_keeps_its_good_records_and_marks_the_rest(
    memory_kafka: MemoryBroker, reader: Any
) -> None:
    records = [RawRecord(b"k", b"one"), RawRecord(b"k", b"two")]
    batch = bytearray(encode_batch(records))
    batch[23:27] = struct.pack(">i", 2)  # last offset delta and record count claim a third
    batch[57:61] = struct.pack(">i", 3)  # record that is not there
    batch[17:21] = struct.pack(">I", calc_crc32c(bytes(batch[21:])))  # a valid CRC of that
    memory_kafka.produce(TP, bytes(batch))
    got = await read_all(reader, 3)
    assert [r.value for r in got[:2]] == [b"one", b"two"]
    assert isinstance(got[2], UnreadableRecord)
    assert (got[2].reason or "").startswith("kafka: a malformed record batch")


async def test_records_without_key_or_value_and_huge_header_sets_are_ordinary(
    memory_kafka: MemoryBroker, reader: Any
) -> None:
    memory_kafka.append(T, [RawRecord(None, None), RawRecord(b"k", b"v", [(b"", b"")] * 50_000)])
    got = await read_all(reader, 2)
    assert described(got) == [(0, None, None), (1, b"v", None)]
    assert len(got[1].headers) == 50_000


async def test_max_records_and_positions_agree_with_aiokafka(
    memory_kafka: MemoryBroker, reader: Any
) -> None:
    memory_kafka.append(T, [RawRecord(b"k", b"%d" % i) for i in range(5)], compression="lz4")
    first = (await reader.getmany(timeout_ms=50, max_records=2))[TP]
    assert [r.offset for r in first] == [0, 1]
    assert await reader.position(TP) == 2
    rest = (await reader.getmany(timeout_ms=50))[TP]
    assert [r.offset for r in rest] == [2, 3, 4]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(st.binary(max_size=4), min_size=1, max_size=6),
    codec=st.sampled_from(["none", "gzip", "zstd"]),
)
async def test_every_record_comes_out_once_readable_or_with_a_reason(
    memory_kafka: MemoryBroker, names: list[bytes], codec: str
) -> None:
    topic = f"p{len(memory_kafka.topic_names())}"
    memory_kafka.create_topic(topic, 1)
    records = [RawRecord(b"k", b"%d" % i, [(n, b"x")]) for i, n in enumerate(names)]
    memory_kafka.append(topic, records, compression=codec)
    consumer = kafka_consumer(
        {"bootstrap_servers": f"memory://{memory_kafka.name}"},
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        got = (await consumer.getmany(timeout_ms=100)).get(tp, [])
    finally:
        await consumer.stop()
    assert [r.value for r in got] == [r.value for r in records]
    for record, name in zip(got, names, strict=True):
        try:
            name.decode()
        except UnicodeDecodeError:
            assert unreadable_reason(record) is not None
        else:
            assert unreadable_reason(record) is None
