"""Event ids are UUIDv7 and increasing; memory ids are deterministic and well formed."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

from tooltrail.schemas import memory_id, new_event_id
from tooltrail.schemas.ids import MEMORY_ID_PATTERN, event_id_time


def test_event_ids_are_uuid7_and_strictly_increasing() -> None:
    ids = [new_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [u.int for u in parsed] == sorted(u.int for u in parsed)
    assert abs(event_id_time(ids[-1]) - datetime.now(UTC)) < timedelta(seconds=5)


def test_memory_id_is_a_pure_function_of_the_event() -> None:
    ended = datetime(2026, 11, 23, 21, 42, 54, 123456, tzinfo=UTC)
    first = memory_id("tool_exec", "sess/\u03b1 1", ended, "e1")
    assert first == memory_id("tool_exec", "sess/\u03b1 1", ended, "e1")
    assert first != memory_id("tool_exec", "sess/\u03b1 1", ended, "e2")
    assert first.startswith("tool-exec_sess-1_20261123T214254123Z_")  # "_" only separates
    assert MEMORY_ID_PATTERN.match(first)


def test_a_forked_child_does_not_repeat_its_parents_random_bits() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id at a fixed moment, to the pipe, then out
        os.write(write, new_event_id(1_000).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = new_event_id(1_000)
    # both continue from the same clock and counter state: only the random bits tell them apart
    assert uuid.UUID(child).int >> 62 == uuid.UUID(parent).int >> 62
    assert child != parent
