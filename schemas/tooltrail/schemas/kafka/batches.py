"""Kafka record batches (message format v2) as bytes: written, split, and read tolerantly.

aiokafka reads batches in C and trusts them: a header *name* that is not UTF-8 raises
``UnicodeDecodeError`` in the middle of a fetch, and a compressed batch is inflated whole
before its first record is built. This module reads the same format without either risk:

* ``encode_batch`` writes a batch from ``RawRecord``s whose header names are bytes, so tests
  and the in-memory broker can carry exactly what a hostile producer puts on a real topic
  (null key and value, names that are not UTF-8, half a million headers);
* ``split_batches`` walks the batches of a fetch response by their length fields only;
* ``inflate`` decompresses a batch's records section within a byte bound, refusing (with
  ``BatchTooLarge``) before more than the bound is held in memory;
* ``read_records`` parses the records of one batch, header names kept as bytes.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.codec import gzip_encode, lz4_encode, snappy_encode, zstd_encode
from aiokafka.record.util import calc_crc32c, encode_varint

__all__ = [
    "CODECS",
    "BatchHeader",
    "BatchTooLarge",
    "RawRecord",
    "encode_batch",
    "inflate",
    "read_header",
    "read_records",
    "set_base_offset",
    "split_batches",
]

#: Compression names and their codec ids (attribute bits 0-2).
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
HEADER_BYTES = 61  # base offset .. record count
_HEAD = struct.Struct(">qiibIhiqqqhii")
_TIMESTAMP_TYPE_BIT = 0x08
_CONTROL_BIT = 0x20
_XERIAL = b"\x82SNAPPY\x00"


class BatchTooLarge(ValueError):
    """A compressed batch inflates beyond the bound given to ``inflate``."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as a producer puts it on the wire (header names as bytes or str)."""

    key: bytes | None = None
    value: bytes | None = None
    headers: Sequence[tuple[bytes | str, bytes | None]] = field(default_factory=tuple)
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """The fixed fields of one v2 batch, read without touching its records."""

    base_offset: int
    size: int  # the whole batch, base offset field included
    magic: int
    attributes: int
    last_offset_delta: int
    first_timestamp: int
    max_timestamp: int
    count: int

    @property
    def codec(self) -> int:
        """The compression codec id (0 = none)."""
        return self.attributes & 0x07

    @property
    def next_offset(self) -> int:
        """The offset after the batch's last record."""
        return self.base_offset + self.last_offset_delta + 1

    @property
    def is_control(self) -> bool:
        """A transaction marker batch (skipped by consumers)."""
        return bool(self.attributes & _CONTROL_BIT)

    @property
    def timestamp_type(self) -> int:
        """0 = the producer's time (CreateTime), 1 = the broker's (LogAppendTime)."""
        return 1 if self.attributes & _TIMESTAMP_TYPE_BIT else 0


def _varint(out: bytearray, value: int) -> None:
    encode_varint(value, out.append)


def _bytes_field(out: bytearray, data: bytes | None) -> None:
    if data is None:
        _varint(out, -1)
    else:
        _varint(out, len(data))
        out += data


def _record(index: int, delta_ms: int, record: RawRecord) -> bytes:
    body = bytearray(b"\x00")  # attributes
    _varint(body, delta_ms)
    _varint(body, index)
    _bytes_field(body, record.key)
    _bytes_field(body, record.value)
    _varint(body, len(record.headers))
    for name, value in record.headers:
        _bytes_field(body, name.encode() if isinstance(name, str) else name)
        _bytes_field(body, value)
    out = bytearray()
    _varint(out, len(body))
    return bytes(out + body)


def _compress(data: bytes, codec: str) -> bytes:
    encoders = {
        "gzip": gzip_encode,
        "snappy": snappy_encode,
        "lz4": lz4_encode,
        "zstd": zstd_encode,
    }
    encoder = encoders.get(codec)
    return data if encoder is None else bytes(encoder(data))


def encode_batch(
    records: Sequence[RawRecord], *, compression: str = "none", base_offset: int = 0
) -> bytes:
    """One v2 batch holding ``records`` (at least one), compressed with ``compression``.

    Raises:
        ValueError: no records, or an unknown compression name.
    """
    if not records:
        raise ValueError("a batch holds at least one record")
    if compression not in CODECS:
        raise ValueError(f"unknown compression {compression!r}: one of {sorted(CODECS)}")
    now = int(time.time() * 1000)
    stamps = [r.timestamp_ms if r.timestamp_ms is not None else now for r in records]
    first = stamps[0]
    body = b"".join(
        _record(i, ts - first, r) for i, (ts, r) in enumerate(zip(stamps, records, strict=True))
    )
    body = _compress(body, compression)
    fixed = (CODECS[compression], len(records) - 1, first, max(stamps), -1, -1, -1, len(records))
    after_crc = struct.pack(">hiqqqhii", *fixed) + body
    length = 4 + 1 + 4 + len(after_crc)  # leader epoch, magic, crc, the rest
    head = struct.pack(">qiib", base_offset, length, 0, 2)
    return head + struct.pack(">I", calc_crc32c(after_crc)) + after_crc


def read_header(buffer: bytes | memoryview, pos: int = 0) -> BatchHeader | None:
    """The header of the batch at ``pos``, or None if the buffer ends before the whole batch."""
    if len(buffer) - pos < HEADER_BYTES:
        return None
    fields = _HEAD.unpack_from(buffer, pos)
    base, length, _epoch, magic, _crc, attributes, delta, first, last, _pid, _pe, _seq, count = (
        fields
    )
    size = 12 + length
    if length < HEADER_BYTES - 12 or len(buffer) - pos < size:
        return None
    return BatchHeader(base, size, magic, attributes, delta, first, last, count)


def split_batches(buffer: bytes | memoryview) -> Iterator[tuple[BatchHeader, memoryview]]:
    """Each whole batch of ``buffer`` (a partition's fetched bytes) with its header.

    A truncated last batch (a fetch cut at its byte limit) is left out, as Kafka clients do.
    """
    view = memoryview(buffer)
    pos = 0
    while (header := read_header(view, pos)) is not None:
        yield header, view[pos : pos + header.size]
        pos += header.size


def set_base_offset(batch: bytes, base_offset: int) -> bytes:
    """``batch`` with its base offset replaced (a broker assigns it; the CRC does not cover it)."""
    return struct.pack(">q", base_offset) + batch[8:]


def inflate(header: BatchHeader, batch: bytes | memoryview, limit: int) -> bytes:
    """The records section of ``batch``, decompressed, at most ``limit`` bytes.

    Raises:
        BatchTooLarge: it would inflate beyond ``limit`` (found before that much is held).
        ValueError: the compressed data is corrupt, or the codec is unknown.
    """
    data = bytes(memoryview(batch)[HEADER_BYTES:])
    codec = header.codec
    if codec == 0:
        return data
    if codec == 1:
        return _inflate_gzip(data, limit)
    if codec == 2:
        return _inflate_snappy(data, limit)
    if codec in (3, 4):
        return _inflate_into(data, limit, codec)
    raise ValueError(f"unknown compression codec {codec}")


def _inflate_gzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ValueError(f"gzip: {exc}") from None
    if len(out) > limit:
        raise BatchTooLarge(f"inflates beyond {limit} bytes")
    return out


def _inflate_snappy(data: bytes, limit: int) -> bytes:
    import cramjam

    if not data.startswith(_XERIAL):
        return _checked_raw_snappy(cramjam, data, limit)
    chunks, pos, total = [], 16, 0
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from(">i", data, pos)
        block = data[pos + 4 : pos + 4 + size]
        total += int(cramjam.snappy.decompress_raw_len(block))
        if total > limit:
            raise BatchTooLarge(f"inflates beyond {limit} bytes")
        chunks.append(_checked_raw_snappy(cramjam, block, limit))
        pos += 4 + size
    return b"".join(chunks)


def _checked_raw_snappy(cramjam: Any, block: bytes, limit: int) -> bytes:
    try:
        size = int(cramjam.snappy.decompress_raw_len(block))
        if size > limit:
            raise BatchTooLarge(f"inflates beyond {limit} bytes")
        return bytes(cramjam.snappy.decompress_raw(block))
    except cramjam.DecompressionError as exc:
        raise ValueError(f"snappy: {exc}") from None


def _inflate_into(data: bytes, limit: int, codec: int) -> bytes:
    """lz4 or zstd into buffers that double from a guess up to ``limit``."""
    import cramjam

    module = cramjam.lz4 if codec == 3 else cramjam.zstd
    size = min(limit, max(8 * len(data), 65_536))
    while True:
        out = bytearray(size)
        try:
            written = module.decompress_into(data, out)
        except cramjam.DecompressionError as exc:
            if "whole buffer" not in str(exc):
                raise ValueError(f"{'lz4' if codec == 3 else 'zstd'}: {exc}") from None
            if size >= limit:
                raise BatchTooLarge(f"inflates beyond {limit} bytes") from None
            size = min(limit, size * 4)
            continue
        if written < size:
            return bytes(out[:written])
        if size >= limit:  # filled exactly: one more byte would not have fitted
            if _fits_exactly(module, data, limit):
                return bytes(out)
            raise BatchTooLarge(f"inflates beyond {limit} bytes")
        size = min(limit, size * 4)


def _fits_exactly(module: Any, data: bytes, limit: int) -> bool:
    import cramjam

    try:
        module.decompress_into(data, bytearray(limit + 1))
    except cramjam.DecompressionError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """One record read tolerantly: header names as bytes, nothing decoded."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[bytes, bytes | None]]


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """A zigzag varint at ``pos`` and the position after it; ``ValueError`` if cut or too long
    (aiokafka's reads past the end of the buffer as zeros)."""
    shift = value = 0
    while True:
        if pos >= len(data):
            raise ValueError("a varint runs past the end of its batch")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("a varint is longer than 10 bytes")


def _read_bytes(data: bytes, pos: int) -> tuple[bytes | None, int]:
    size, pos = decode_varint(data, pos)
    if size < 0:
        return None, pos
    if pos + size > len(data):
        raise ValueError("a record field runs past the end of its batch")
    return data[pos : pos + size], pos + size


def read_records(header: BatchHeader, records: bytes) -> Iterator[ParsedRecord]:
    """The records of one batch from its (inflated) records section.

    Raises:
        ValueError: the records section is malformed (raised when reached).
    """
    pos = 0
    for _ in range(header.count):
        length, pos = decode_varint(records, pos)
        end = pos + length
        if length < 0 or end > len(records):
            raise ValueError("a record runs past the end of its batch")
        pos += 1  # attributes
        delta_ts, pos = decode_varint(records, pos)
        delta_offset, pos = decode_varint(records, pos)
        key, pos = _read_bytes(records, pos)
        value, pos = _read_bytes(records, pos)
        count, pos = decode_varint(records, pos)
        if count < 0 or count > end - pos:
            raise ValueError("a record claims more headers than it has bytes")
        headers = []
        for _ in range(count):
            name, pos = _read_bytes(records, pos)
            hvalue, pos = _read_bytes(records, pos)
            headers.append((name or b"", hvalue))
        if pos != end:
            raise ValueError("a record's length does not match its fields")
        stamp = header.max_timestamp if header.timestamp_type else header.first_timestamp + delta_ts
        yield ParsedRecord(header.base_offset + delta_offset, stamp, key, value, headers)
