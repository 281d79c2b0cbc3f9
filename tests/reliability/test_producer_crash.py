"""A tool server killed while spilling: on restart its outbox replays what was written."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.kafka_helpers import read_all, wait_for
from tooltrail.consumers import TopicSpec, ensure_topics
from tooltrail.consumers.app.launcher import EmbeddedBroker, free_port
from tooltrail.producer.emitter import TrailProducer
from tooltrail.producer.outbox import frame, parse
from tooltrail.schemas import ToolExecutionEvent, decode

pytestmark = pytest.mark.reliability

CHILD = textwrap.dedent(
    """
    import sys, time
    from tooltrail.producer.emitter import TrailProducer
    from tests.factories import make_event
    p = TrailProducer(kafka_bootstrap=sys.argv[1], outbox_dir=sys.argv[2], queue_size=5,
                      outbox_fsync_interval_ms=0, request_timeout_ms=300)
    p.start()
    while True:
        p.emit(make_event())
        time.sleep(0.0005)
    """
)


def _intact_ids(outbox: Path) -> list[str]:
    ids = []
    for segment in sorted(outbox.glob("seg-*.log")):
        for _, _, value, _ in parse(segment.read_bytes()):
            ids.append(decode(value, ToolExecutionEvent).event_id)
    return ids


async def test_killed_mid_spill_then_restart_replays_the_outbox(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"127.0.0.1:{free_port()}", str(outbox)],
        cwd=Path(__file__).parents[2],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while sum(p.stat().st_size for p in outbox.glob("seg-*.log")) < 200_000:
            assert child.poll() is None, "the spilling process died on its own"
            assert time.monotonic() < deadline, "nothing was spilled"
            await asyncio.sleep(0.05)
        child.send_signal(signal.SIGKILL)  # mid-spill: no shutdown, no flush
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    newest = max(outbox.glob("seg-*.log"))
    with newest.open("ab") as f:  # the torn record a crash in the middle of write() leaves
        f.write(frame(b"torn", b"x" * 500)[:100])
    expected = _intact_ids(outbox)
    assert len(expected) > 100

    own_broker.start()
    await ensure_topics({"bootstrap_servers": own_broker.bootstrap}, [TopicSpec("events", 3)])
    producer = TrailProducer(
        kafka_bootstrap=own_broker.bootstrap, events_topic="events", outbox_dir=outbox
    ).start()
    assert producer.stats().outbox_pending == len(expected)
    await wait_for(lambda: producer.stats().outbox_pending == 0, 60, "the outbox to replay")
    await producer.aclose(10)
    assert producer.stats().resent == len(expected)

    records = await read_all(own_broker.bootstrap, "events")
    got = Counter(decode(r.value, ToolExecutionEvent).event_id for r in records)
    assert got == Counter(expected)
