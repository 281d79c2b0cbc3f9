"""``replay memory --swap`` while a memory worker runs and traffic flows loses nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.kafka_helpers import wait_for
from tests.processes import ROOT, worker, worker_env
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.consumers.memory.chroma import close_client, open_client
from tooltrail.consumers.memory.situations import situation_of
from tooltrail.schemas import ToolExecutionEvent, encode

pytestmark = pytest.mark.reliability


def _letters(n: int) -> str:
    """``n`` in base 26 letters: a name normalization keeps (digits would be normalized)."""
    out = ""
    while True:
        n, digit = divmod(n, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[digit] + out
        if n == 0:
            return "ns-" + out


async def _steady(
    bootstrap: str, topic: str, sent: list[ToolExecutionEvent], stop: asyncio.Event
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        while not stop.is_set():
            event = make_event(
                session_id=f"s-{len(sent) % 7}",
                tool_id="oc_read_logs",
                args={"namespace": _letters(len(sent))},  # one situation per event
            )
            await producer.send_and_wait(topic, encode(event), key=event.session_id.encode())
            sent.append(event)
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()


def _replay(env: dict[str, str]) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "tooltrail.consumers.app.cli",
        "replay",
        "memory",
        "--swap",
        "--json",
    ]
    out = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    result: dict[str, Any] = orjson.loads(out.stdout)
    return result


@pytest.mark.timeout(300)
async def test_live_writes_during_a_swap_end_up_in_the_new_live_collection(
    kafka: KafkaEndpoint, chroma: ChromaServer, names: Names, tmp_path: Path
) -> None:
    env = worker_env(
        kafka.bootstrap,
        names,
        tmp_path,
        chroma.url,
        TOOLTRAIL_CHROMA_TIMEOUT_S="2",
        TOOLTRAIL_MAX_POLL_RECORDS="20",
    )
    group = env["TOOLTRAIL_MEMORY_GROUP"]
    sent: list[ToolExecutionEvent] = []
    stop = asyncio.Event()
    with worker("memory", env, tmp_path / "worker.log") as w:
        await wait_for(lambda: w.get("/readyz")[0] == 200, 60, "the memory worker")
        traffic = asyncio.create_task(_steady(kafka.bootstrap, names.events, sent, stop))
        await wait_for(lambda: len(sent) >= 60, 30, "some traffic before the replay")
        result = await asyncio.to_thread(_replay, env)  # traffic and the worker go on meanwhile
        during = len(sent)
        await wait_for(lambda: len(sent) >= during + 40, 30, "traffic after the swap")
        stop.set()
        await traffic
        await wait_for(
            lambda: (
                w.metric("tooltrail_written_total", group=group) >= len(sent)
                and w.metric("tooltrail_lag", group=group) == 0
            ),
            60,
            "the worker to catch up",
        )
    assert result["verify"]["ok"]
    assert any(action.endswith(f"-> {names.collection}") for action in result["swapped"])
    client = open_client(chroma.url)
    try:
        live = set(client.get_collection(names.collection).get(include=[])["ids"])
        old = [c.name for c in client.list_collections() if "__old_" in c.name]
    finally:
        close_client(client)
    expected = {situation_of(e).id for e in sent}
    assert len(expected) == len(sent)
    print(
        f"\nsent {len(sent)} ({during} by the end of the replay and swap); "
        f"caught up {result['caught_up']}; live holds {len(live & expected)}"
    )
    assert expected <= live, f"{len(expected - live)} events missing from the live collection"
    assert old  # the previous live collection was kept (no --drop-old)
