"""The producer's outbox on a real full disk, and two producers sharing one outbox directory.

A driver process (``tests.producer_driver``) makes calls at a steady rate, each carrying its
index (``args["i"]``). Its outbox is a small tmpfs mount (needs root; CI runs as root) and
the broker is not there yet, so the outbox fills the disk; that first life closes on the
full disk. A second life on the same outbox inherits it, keeps spilling onto the full disk,
and sees the disk grow and the broker start, in both orders. The topic is the judge: each
call of either life is on it exactly once, or counted dropped, and the counters are exactly
the calls that are missing.
"""

from __future__ import annotations

import signal
import subprocess
import time
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
    one, two = tmp_path / "first.json", tmp_path / "second.json"
    with tmpfs(tmp_path / "disk", "512k") as disk:
        outbox = disk / "outbox"
        # the first life fills the disk (no broker yet) and closes on it, full
        assert _driver(one, outbox, own_broker, names, 3, 0).wait(60) == 0
        first = _status(one)
        # the second inherits a full outbox, keeps spilling onto it, and sees both recover
        driver = _driver(two, outbox, own_broker, names, 10, SECOND_LIFE)
        try:
            await wait_for(
                lambda: _status(two).get("dropped", {}).get("disk_full", 0) > 100,
                30,
                "the second life to meet the full disk",
            )
            full = _status(two)
            if order == "space_first":
                _remount(disk, "64m")
                await _start_broker(own_broker, names)
            else:
                await _start_broker(own_broker, names)
                await wait_for(
                    lambda: _status(two).get("resent", 0) > 300, 30, "a drain on a full disk"
                )
                _remount(disk, "64m")
            await wait_for(
                lambda: _status(two).get("outbox_pending", 1) == 0,
                30,
                "the outbox to drain once both recovered",
            )
            driver.send_signal(signal.SIGUSR1)  # seen: the rest of its traffic adds nothing
            assert driver.wait(60) == 0
        finally:
            if driver.poll() is None:
                driver.kill()
        second = _status(two)
    n1, n2 = first["calls"], second["calls"]
    d1, d2 = first["dropped"].get("disk_full", 0), second["dropped"].get("disk_full", 0)
    on_topic = await _topic_indexes(own_broker.bootstrap, names.events)
    got1 = sum(1 for i in on_topic if i < SECOND_LIFE)
    got2 = len(on_topic) - got1
    print(
        f"\n{order}: first life {n1} calls on a 512k disk, {d1} dropped, closed with"
        f" {first['outbox_pending']} pending; second life inherited {second['outbox_inherited']},"
        f" {n2} calls, full at call {full['calls']}, {d2} dropped, sent {second['sent']},"
        f" resent {second['resent']}; missing on the topic {n1 - got1} + {n2 - got2},"
        f" duplicates {sum(c - 1 for c in on_topic.values())}"
    )
    assert first["done"]
    assert second["done"]
    assert _balanced(first)
    assert _balanced(second)
    assert set(first["dropped"]) == {"disk_full"}
    assert set(second["dropped"]) == {"disk_full"}
    assert second["outbox_inherited"] == first["outbox_pending"] > 0  # kept across lives
    assert second["outbox_pending"] == 0
    assert (n1 - got1) + (n2 - got2) == d1 + d2  # lost = counted, exactly
    assert max(on_topic.values()) == 1  # nothing twice
    assert first["io_on_call"] == second["io_on_call"] == 0


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
        await wait_for(
            lambda: (
                _status(b_status).get("outbox_inherited", 0) >= last_a["spilled"]
                and _status(b_status).get("outbox_pending", 1) == 0
            ),
            40,
            "b to adopt a's outbox and drain both",
        )
        b.send_signal(signal.SIGUSR1)  # seen: the rest of its traffic adds nothing
        assert b.wait(60) == 0
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    final_b = _status(b_status)
    n_a, n_b = last_a["calls"], final_b["calls"]
    started = time.monotonic()
    on_topic = await _topic_indexes(own_broker.bootstrap, names.events)
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
