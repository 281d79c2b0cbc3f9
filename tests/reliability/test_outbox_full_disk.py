"""The producer's outbox on a real full disk, and two producers sharing one outbox directory.

A driver process (``tests.producer_driver``) makes calls at a steady rate, each carrying its
index (``args["i"]``). Its outbox is a small tmpfs mount (needs root; CI runs as root) and
the broker is not there yet, so the outbox fills the disk. Then the disk grows and the
broker starts, in both orders. A second life of the driver on the same outbox resends what
the first kept. The topic is the judge: each first-life call is on it exactly once, or
counted dropped, and the counters are exactly the calls that are missing.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import Names
from tests.kafka_helpers import wait_for
from tests.reliability.test_metrics_full_disk import _remount, tmpfs
from tests.reliability.test_producer_faults import _driver as _faults_driver
from tests.reliability.test_producer_faults import _status, _topic_indexes
from tooltrail.consumers.app.launcher import EmbeddedBroker
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.reliability
RATE = 500
SECOND_LIFE = 10**6


_EXTRA = {
    "TOOLTRAIL_OUTBOX_SEGMENT_BYTES": "65536",
    "TOOLTRAIL_RECONNECT_BACKOFF_MAX_S": "0.5",
    "TOOLTRAIL_OUTBOX_ADOPT_INTERVAL_S": "0.5",
}


def _driver(
    status: Path, outbox: Path, broker: EmbeddedBroker, names: Names, seconds: float, first: int
) -> subprocess.Popen[bytes]:
    log = status.with_suffix(".log")
    return _faults_driver(
        status, outbox, broker.bootstrap, names.events, seconds, log, first, RATE, _EXTRA
    )


async def _start_broker(broker: EmbeddedBroker, names: Names) -> None:
    broker.start()
    await ensure_topics({"bootstrap_servers": broker.bootstrap}, [TopicSpec(names.events, 1)])


def _balanced(s: dict[str, object]) -> bool:
    keys = ("sent", "resent", "queue_depth", "in_flight", "outbox_pending")
    held = sum(int(s[k]) for k in keys) + sum(dict(s["dropped"]).values())  # type: ignore[call-overload]
    return int(s["emitted"]) + int(s["outbox_inherited"]) == held  # type: ignore[call-overload]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("order", ["space_first", "broker_first"])
async def test_a_full_disk_loses_only_what_it_counts_in_both_recovery_orders(
    own_broker: EmbeddedBroker, names: Names, tmp_path: Path, order: str
) -> None:
    status = tmp_path / "first.json"
    with tmpfs(tmp_path / "disk", "512k") as disk:
        outbox = disk / "outbox"
        driver = _driver(status, outbox, own_broker, names, 12, 0)
        try:
            await wait_for(
                lambda: _status(status).get("dropped", {}).get("disk_full", 0) > 200,
                30,
                "the outbox to fill the disk",
            )
            full = _status(status)
            if order == "space_first":
                _remount(disk, "64m")
                await _start_broker(own_broker, names)
            else:
                await _start_broker(own_broker, names)
                await wait_for(
                    lambda: _status(status).get("resent", 0) > 300, 30, "a drain on a full disk"
                )
                _remount(disk, "64m")
            assert driver.wait(60) == 0
        finally:
            if driver.poll() is None:
                driver.kill()
        first = _status(status)
        again = _driver(tmp_path / "second.json", outbox, own_broker, names, 2, SECOND_LIFE)
        assert again.wait(60) == 0
        second = _status(tmp_path / "second.json")
    n = first["calls"]
    on_topic = await _topic_indexes(own_broker.bootstrap, names.events, n - 1)
    lives = Counter({i: c for i, c in on_topic.items() if i < SECOND_LIFE})
    missing = n - len(lives)
    print(
        f"\n{order}: {n} calls, disk full at {full['calls']} (dropped then {full['dropped']});"
        f" first life: sent {first['sent']} resent {first['resent']} dropped {first['dropped']}"
        f" pending at close {first['outbox_pending']}; second life inherited"
        f" {second['outbox_inherited']}, resent {second['resent']};"
        f" missing on the topic {missing}, duplicates {sum(c - 1 for c in lives.values())}"
    )
    assert first["done"]
    assert second["done"]
    assert _balanced(first)
    assert _balanced(second)
    assert set(first["dropped"]) == {"disk_full"}
    assert missing == first["dropped"]["disk_full"]  # lost = counted, exactly
    assert max(lives.values()) == 1  # nothing twice
    assert second["outbox_inherited"] == first["outbox_pending"]  # found what was kept
    assert second["outbox_pending"] == 0
    assert set(on_topic) >= set(range(SECOND_LIFE, SECOND_LIFE + second["calls"]))
    assert first["internal_errors"] == 0
    assert first["io_on_call"] == 0


@pytest.mark.timeout(180)
async def test_two_producers_on_one_outbox_one_killed_every_call_once(
    own_broker: EmbeddedBroker, names: Names, tmp_path: Path
) -> None:
    outbox = tmp_path / "shared"
    a_status, b_status = tmp_path / "a.json", tmp_path / "b.json"
    a = _driver(a_status, outbox, own_broker, names, 60, 0)  # no broker yet: both spill
    b = _driver(b_status, outbox, own_broker, names, 12, SECOND_LIFE)
    try:
        await wait_for(
            lambda: (
                _status(a_status).get("spilled", 0) >= 1000
                and _status(b_status).get("spilled", 0) >= 500
            ),
            30,
            "both producers to spill into the one outbox directory",
        )
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        last_a = _status(a_status)  # written before the kill: its spilled calls are on disk
        await _start_broker(own_broker, names)
        assert b.wait(60) == 0
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    final_b = _status(b_status)
    n_a, n_b = last_a["calls"], final_b["calls"]
    started = time.monotonic()
    on_topic = await _topic_indexes(own_broker.bootstrap, names.events, n_a + n_b)
    print(
        f"\na made {n_a} calls and was killed (spilled {last_a['spilled']});"
        f" b made {n_b}, adopted {final_b['outbox_inherited']}, resent {final_b['resent']};"
        f" {len(on_topic)} distinct on the topic (read in {time.monotonic() - started:.1f}s)"
    )
    # calls are spilled in order: every call the killed one had spilled reaches the topic
    assert set(on_topic) >= set(range(last_a["spilled"])), "a spilled call is missing"
    assert n_a - len([i for i in on_topic if i < SECOND_LIFE]) <= RATE * 0.2  # in memory
    assert set(on_topic) >= set(range(SECOND_LIFE, SECOND_LIFE + n_b))
    assert max(on_topic.values()) == 1  # nothing sent twice
    assert final_b["outbox_inherited"] >= last_a["spilled"]
    assert final_b["dropped"] == {}
    assert [p.name for p in outbox.iterdir() if p.name.startswith("proc-")] == []
