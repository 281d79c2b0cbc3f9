"""The producer under sustained faults, as a tool server meets them.

A driver process (``tests.producer_driver``) calls ``record_call`` at a steady 1,000 calls/s
while the test pauses the broker for longer than the send timeout (SIGSTOP: connections hang,
as in a network partition) or kills the driver in the middle of the stall. The metrics
worker is the judge of what reached Kafka.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import Names
from tests.kafka_helpers import read_all, wait_for
from tests.processes import ROOT, worker, worker_env
from tests.reliability.test_outages import FAST, metric_ids
from tooltrail.consumers.app.launcher import EmbeddedBroker
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas import ToolExecutionEvent, decode

pytestmark = pytest.mark.reliability
RATE = 1000  # calls per second
SEND_TIMEOUT_S = 1.0
PAUSE_S = 5.0  # well over the send timeout
DRAIN_BOUND_S = 10.0  # the outbox is empty this long after the broker returns, under traffic
# (measured: 0.3 s); the stalled-broker driver runs past ~2 s of warm-up + the pause + this,
# and the test ends it (SIGUSR1) as soon as it has seen the drain
STALL_DRIVER_S = 20
SECOND_LIFE = 10**6  # first call index of a restarted driver


def _driver(
    status: Path,
    outbox: Path,
    bootstrap: str,
    topic: str,
    seconds: float,
    log: Path,
    first: int = 0,
    rate: float = RATE,
    extra: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": bootstrap,
        "TOOLTRAIL_EVENTS_TOPIC": topic,
        "TOOLTRAIL_OUTBOX_DIR": str(outbox),
        "TOOLTRAIL_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S),
        "TOOLTRAIL_OUTBOX_FSYNC_INTERVAL_MS": "0",
        "TOOLTRAIL_SERVER_NAME": "fault-driver",
        **(extra or {}),
    }
    with log.open("ab") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.producer_driver",
                str(status),
                str(rate),
                str(seconds),
                str(first),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _status(path: Path) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return doc


async def _topic_indexes(bootstrap: str, topic: str) -> Counter[int]:
    """How often each call index is on ``topic`` (every producer of it has ended)."""
    records = await read_all(bootstrap, topic)
    return Counter(int(decode(r.value, ToolExecutionEvent).args["i"]) for r in records)


@pytest.mark.timeout(240)
async def test_a_stalled_broker_under_steady_traffic_loses_nothing_and_drains_while_calls_flow(
    own_broker: EmbeddedBroker, names: Names, tmp_path: Path
) -> None:
    own_broker.start()
    env = worker_env(own_broker.bootstrap, names, tmp_path, **FAST)
    status = tmp_path / "driver.json"
    with worker("metrics", env, tmp_path / "worker.log") as w:
        await wait_for(lambda: w.get("/readyz")[0] == 200, 30, "the worker to be ready")
        driver = _driver(
            status,
            tmp_path / "outbox",
            own_broker.bootstrap,
            names.events,
            STALL_DRIVER_S,
            tmp_path / "driver.log",
        )
        try:
            await wait_for(lambda: _status(status).get("sent", 0) >= 2000, 30, "traffic to flow")
            own_broker.signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(PAUSE_S)
                during = _status(status)
            finally:
                own_broker.signal(signal.SIGCONT)
            resumed = time.monotonic()
            await wait_for(
                lambda: (
                    _status(status).get("outbox_pending", 1) == 0
                    and _status(status).get("resent", 0) > 0
                ),
                DRAIN_BOUND_S,
                "the outbox to drain after the broker returned",
            )
            drained_after = time.monotonic() - resumed
            at_drain = _status(status)
            assert not at_drain["done"], "the outbox drained only once traffic had stopped"
            driver.send_signal(signal.SIGUSR1)  # seen: end the traffic now
            assert driver.wait(60) == 0
        finally:
            if driver.poll() is None:
                driver.kill()
        final = _status(status)
        n = final["calls"]
        await wait_for(lambda: len(metric_ids(tmp_path)) >= n, 60, "every call in the metrics")
        got = metric_ids(tmp_path)
        on_topic = await _topic_indexes(own_broker.bootstrap, names.events)
    duplicates = sum(c - 1 for c in on_topic.values())
    print(
        f"\n{n} calls at {RATE}/s, broker paused {PAUSE_S:.0f}s (send timeout {SEND_TIMEOUT_S}s):"
        f" spilled {final['spilled']}, resent {final['resent']}, late acks {final['late_acks']},"
        f" maybe duplicated {final['maybe_duplicated']},"
        f" in memory during the stall {during['queue_depth'] + during['in_flight']};"
        f" outbox empty {drained_after:.1f}s after resume, at call {at_drain['calls']};"
        f" {len(got)} in metrics, {duplicates} duplicate records on the topic;"
        f" calls over 1 ms {final['over_1ms']}, slowest {final['max_us']} us"
    )
    assert final["dropped"] == {}
    assert final["internal_errors"] == 0
    assert final["emitted"] == n == final["sent"] + final["resent"]
    assert final["spilled"] > 0  # the fault did reach the producer
    assert set(on_topic) == set(range(n))
    assert len(got) == n  # each call exactly once in the metrics
    assert max(got.values()) == 1
    # a duplicate comes only from a request whose outcome was unknown, and is counted
    assert duplicates <= final["maybe_duplicated"]
    assert final["io_on_call"] == 0  # no file I/O on the calling thread, whatever the state
    # no event waited in memory for more than the send timeout at the traffic's rate
    assert during["queue_depth"] + during["in_flight"] <= RATE * (SEND_TIMEOUT_S + 1)


@pytest.mark.timeout(180)
async def test_a_producer_killed_mid_stall_leaves_what_it_received_in_its_outbox(
    own_broker: EmbeddedBroker, names: Names, tmp_path: Path
) -> None:
    own_broker.start()
    env = worker_env(own_broker.bootstrap, names, tmp_path, **FAST)
    status, outbox = tmp_path / "driver.json", tmp_path / "outbox"
    with worker("metrics", env, tmp_path / "worker.log") as w:
        await wait_for(lambda: w.get("/readyz")[0] == 200, 30, "the worker to be ready")
        driver = _driver(
            status, outbox, own_broker.bootstrap, names.events, 120, tmp_path / "driver.log"
        )
        try:
            await wait_for(lambda: _status(status).get("sent", 0) >= 2000, 30, "traffic to flow")
            own_broker.signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(SEND_TIMEOUT_S + 3)  # past the send timeout: spilled
                driver.kill()
                driver.wait(10)
                last = _status(status)
            finally:
                own_broker.signal(signal.SIGCONT)
        finally:
            if driver.poll() is None:
                driver.kill()
        # a second life of the same tool server (same outbox) resends what the first kept
        again = _driver(
            tmp_path / "again.json",
            outbox,
            own_broker.bootstrap,
            names.events,
            3,
            tmp_path / "again.log",
            first=SECOND_LIFE,
        )
        assert again.wait(60) == 0
        second = _status(tmp_path / "again.json")
        calls_after = second["calls"]
        await wait_for(lambda: len(metric_ids(tmp_path)) >= last["calls"], 60, "the recovery")
        await asyncio.sleep(2)  # anything late would show up now
        on_topic = await _topic_indexes(own_broker.bootstrap, names.events)
    first_life = {i for i in on_topic if i < SECOND_LIFE}
    made = max(last["calls"], max(first_life) + 1)  # the status file lags up to 100 ms
    lost = made - len(first_life)
    print(
        f"\nfirst life: {made} calls, killed {SEND_TIMEOUT_S + 3:.0f}s into a stall"
        f" (last status: spilled {last['spilled']}, resent {last['resent']}, in memory"
        f" {last['queue_depth'] + last['in_flight']}); second life resent {second['resent']}"
        f" and made {calls_after} calls; first-life calls missing from the topic: {lost}"
    )
    # what the first life spilled and had not resent itself (calls spilled before its link
    # came up are resent in that life) is whole on disk and resent by the second life
    assert second["resent"] >= last["spilled"] - last["resent"]
    # once a stall is detected, calls go to the outbox within a linger: a kill loses at most
    # the last moments (status lag 100 ms + linger, 50 ms of slack), not the send timeout's
    # worth or more
    linger_s = ProducerSettings.model_fields["linger_ms"].default / 1000
    assert lost <= RATE * (0.15 + linger_s)
