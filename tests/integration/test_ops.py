"""What an operator uses: the Prometheus endpoint, ``tooltrail stats``, ``tooltrail dlq``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from tests.conftest import KafkaEndpoint, Names
from tests.factories import make_event
from tests.integration.test_metrics_worker import running, worker_settings
from tests.kafka_helpers import wait_for
from tooltrail.consumers.app.launcher import free_port
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.observability.http import serve
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.sinks.metrics import MetricsSink
from tooltrail.schemas import encode

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


def _cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tooltrail.consumers.app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def _cli_fails(env: dict[str, str], *args: str) -> tuple[int, str]:
    out = subprocess.run(
        [sys.executable, "-m", "tooltrail.consumers.app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return out.returncode, out.stderr


async def test_endpoint_stats_and_dead_letter_replay(
    kafka: KafkaEndpoint, names: Names, tmp_path: Path
) -> None:
    settings = worker_settings(kafka, names, tmp_path / "metrics")
    await ensure_topics(settings.kafka_kwargs(), [TopicSpec(names.events, 3)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for i in range(20):
            await producer.send(names.events, encode(make_event()), key=f"k{i}".encode())
        for bad in (b"oops", b'{"schemaVersion": 2}'):
            await producer.send(names.events, bad, key=b"bad")
        await producer.flush()
    finally:
        await producer.stop()
    env = {
        "PATH": "",
        "HOME": str(tmp_path),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "TOOLTRAIL_EVENTS_TOPIC": names.events,
        "TOOLTRAIL_DLQ_TOPIC": names.dlq,
        "TOOLTRAIL_METRICS_GROUP": names.group,
    }
    runner = GroupRunner(settings, names.group, MetricsSink(settings.metrics_dir, 10**7))
    port = free_port()
    server = await serve(port, lambda: [runner.stats], host="127.0.0.1")
    try:
        async with running(runner):
            await wait_for(
                lambda: runner.stats.written == 20 and runner.stats.dead_lettered == 2,
                30,
                "20 written, 2 dead letters",
            )
            expected = [
                f'tooltrail_written_total{{group="{names.group}"}} 20',
                f'tooltrail_dead_lettered_total{{group="{names.group}"}} 2',
                f'tooltrail_lag{{group="{names.group}",partition="0"}} 0',
                f'tooltrail_ready{{group="{names.group}"}} 1',
            ]
            body = ""
            for _ in range(100):  # the highwater of each partition arrives with its next fetch
                body = await asyncio.to_thread(
                    lambda: (
                        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
                    )
                )
                if all(line in body for line in expected):
                    break
                await asyncio.sleep(0.1)
            assert all(line in body for line in expected), body

            stats = orjson.loads(await asyncio.to_thread(_cli, env, "stats", "--json"))
            group = stats["groups"][names.group]
            assert group["lag"] == 0
            assert sum(p["highwater"] for p in group["partitions"]) == 22
            assert stats["dlq"]["messages"] == 2

            members = stats["groups"][names.group]["members"]
            assert [m["state"] for m in members] == ["running"]
            assert stats["groups"][names.group]["lastError"] is None

            letters = orjson.loads(await asyncio.to_thread(_cli, env, "dlq", "list", "--json"))
            assert len(letters) == 2
            assert {letter["sourceTopic"] for letter in letters} == {names.events}
            assert any("not valid JSON" in letter["error"] for letter in letters)
            newest = orjson.loads(
                await asyncio.to_thread(_cli, env, "dlq", "list", "--json", "--limit", "1")
            )
            assert len(newest) == 1
            ref = f"{newest[0]['partition']}:{newest[0]['offset']}"
            shown = orjson.loads(await asyncio.to_thread(_cli, env, "dlq", "show", ref, "--json"))
            assert shown["value"] in ("oops", '{"schemaVersion": 2}')
            assert shown["sourceOffset"] == newest[0]["sourceOffset"]
            text = await asyncio.to_thread(_cli, env, "dlq", "show", ref)
            assert f"sourceOffset: {shown['sourceOffset']}" in text.splitlines()
            assert text.splitlines()[-1] == shown["value"]
            for args, message in (
                (("dlq", "show", "garbage"), "expected PARTITION:OFFSET"),
                (("dlq", "show", "9:0"), "has no partition 9"),
                (("dlq", "show", f"{newest[0]['partition']}:999"), "no dead letter at"),
                (("dlq", "replay"), "arguments are required"),
            ):
                code, err = await asyncio.to_thread(_cli_fails, env, *args)
                assert code == 2, (args, err)
                assert message in err
                assert "Traceback" not in err
                assert len(err.strip().splitlines()) == 1, err

            dry = orjson.loads(
                await asyncio.to_thread(_cli, env, "dlq", "replay", "all", "--dry-run", "--json")
            )
            assert dry == {"topic": names.events, "dryRun": True, "sent": 2, "skippedCut": 0}
            out = await asyncio.to_thread(_cli, env, "dlq", "replay", "all")
            assert "re-published 2 dead letter(s)" in out
            await wait_for(lambda: runner.stats.dead_lettered == 4, 30, "replayed letters")
            assert runner.stats.written == 20  # the replayed ones are still invalid
    finally:
        server.close()
        await server.wait_closed()
