"""Record batches as bytes: written as aiokafka reads them, read without trusting them, and
inflated within a bound that holds before the memory is spent."""

from __future__ import annotations

import contextlib
import tracemalloc

import pytest
from aiokafka.record._crecords.default_records import DefaultRecordBatch
from hypothesis import given, settings
from hypothesis import strategies as st

from tooltrail.schemas.kafka.batches import (
    CODECS,
    BatchTooLarge,
    RawRecord,
    encode_batch,
    inflate,
    read_header,
    read_records,
    set_base_offset,
    split_batches,
)

optional_bytes = st.none() | st.binary(max_size=64)
records = st.lists(
    st.builds(
        RawRecord,
        key=optional_bytes,
        value=optional_bytes,
        headers=st.lists(st.tuples(st.binary(max_size=8), optional_bytes), max_size=4),
        timestamp_ms=st.integers(0, 2**40),
    ),
    min_size=1,
    max_size=8,
)


def read_back(batch: bytes, limit: int = 1 << 20) -> list[tuple[object, ...]]:
    (header, view), *rest = list(split_batches(batch))
    assert rest == []
    return [
        (r.offset, r.timestamp, r.key, r.value, r.headers)
        for r in read_records(header, inflate(header, view, limit))
    ]


@settings(max_examples=60, deadline=None)
@given(records=records, codec=st.sampled_from(sorted(CODECS)), base=st.integers(0, 2**40))
def test_what_is_written_is_read_back_by_us_and_by_aiokafka(
    records: list[RawRecord], codec: str, base: int
) -> None:
    batch = set_base_offset(encode_batch(records, compression=codec), base)
    expected = [
        (base + i, r.timestamp_ms, r.key, r.value, [(bytes(n), v) for n, v in r.headers])
        for i, r in enumerate(records)
    ]
    assert read_back(batch) == expected
    if all(_utf8(n) for r in records for n, _ in r.headers):
        theirs = DefaultRecordBatch(batch)
        assert theirs.validate_crc()
        assert [(r.offset, r.key, r.value) for r in theirs] == [e[0:1] + e[2:4] for e in expected]


def _utf8(name: bytes | str) -> bool:
    try:
        bytes(name).decode() if not isinstance(name, str) else name
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_inflate_holds_its_bound_exactly(codec: str) -> None:
    batch = encode_batch([RawRecord(b"k", b"{}" * 50_000)], compression=codec)
    ((header, view),) = split_batches(batch)
    size = len(inflate(header, view, 1 << 20))
    assert len(inflate(header, view, size)) == size
    with pytest.raises(BatchTooLarge):
        inflate(header, view, size - 1)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_a_compression_bomb_is_refused_before_its_memory_is_spent(codec: str) -> None:
    bomb = encode_batch([RawRecord(None, b"\x00" * 50_000_000)], compression=codec)
    assert len(bomb) < 3_000_000
    ((header, view),) = split_batches(bomb)
    tracemalloc.start()
    try:
        with pytest.raises(BatchTooLarge):
            inflate(header, view, 1_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12_000_000, f"{codec}: {peak} bytes held to refuse a 50 MB bomb"


def test_split_leaves_out_a_truncated_last_batch_and_reads_headers_only() -> None:
    one = encode_batch([RawRecord(b"a", b"1"), RawRecord(b"b", b"2")])
    two = set_base_offset(encode_batch([RawRecord(b"c", b"3")]), 2)
    found = [(h.base_offset, h.next_offset, h.count) for h, _ in split_batches(one + two[:-1])]
    assert found == [(0, 2, 2)]
    assert read_header(one[:40]) is None


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=200))
def test_malformed_records_raise_value_error_and_nothing_else(garbage: bytes) -> None:
    header = read_header(encode_batch([RawRecord(b"k", b"v")] * 3))
    assert header is not None
    with contextlib.suppress(ValueError):
        list(read_records(header, garbage))


def test_unknown_compression_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="brotli"):
        encode_batch([RawRecord(b"k")], compression="brotli")
    with pytest.raises(ValueError, match="at least one record"):
        encode_batch([])
