"""Reading a topic back in tests (group-less, all partitions, from the beginning)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float = 30.0,
    settle: float = 0.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``topic`` until ``until(records)`` holds or ``timeout``; then read ``settle`` more."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        await consumer.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(records):
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        end = time.monotonic() + settle
        while time.monotonic() < end:  # catch duplicates that arrive a little later
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
