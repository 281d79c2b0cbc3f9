"""The examples of producer/examples, run as a user runs them, against the real broker and a
running worker: every call of every example arrives as a metrics record.

The mcp SDK's and fastmcp's servers are started by ``client.py`` over stdio (which passes
the TOOLTRAIL_* settings on: the SDK would not); ``decorated.py`` runs on its own. One
``tooltrail worker metrics`` turns the events into records, as the README's worker step says.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tooltrail.consumers.sinks.metrics import segments

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "producer" / "examples"


@pytest.fixture
def env(kafka: KafkaEndpoint, names: Names, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "TOOLTRAIL_EVENTS_TOPIC": names.events,
        "TOOLTRAIL_DLQ_TOPIC": names.dlq,
        "TOOLTRAIL_ENRICHMENT_TOPIC": names.enrichment,
        "TOOLTRAIL_METRICS_GROUP": f"{names.group}-metrics",
        "TOOLTRAIL_METRICS_DIR": str(tmp_path / "metrics"),
        "TOOLTRAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "TOOLTRAIL_TOPIC_PARTITIONS": "2",
        "TOOLTRAIL_SESSION_TIMEOUT_MS": "3000",
        "TOOLTRAIL_HEARTBEAT_INTERVAL_MS": "500",
        "TOOLTRAIL_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def worker(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``tooltrail worker metrics``: the worker step every example needs."""
    with (tmp_path / "worker.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tooltrail.consumers.app.cli", "worker", "metrics"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _records(metrics: Path) -> list[dict[str, object]]:
    return [
        orjson.loads(line)
        for path in segments(metrics)
        for line in path.read_bytes().splitlines()
        if line.strip()
    ]


def _wait_for(metrics: Path, count: int, timeout: float) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while len(records := _records(metrics)) < count:
        assert time.monotonic() < deadline, f"{len(records)} of {count} records: {records}"
        time.sleep(0.2)
    return records


def _run(env: dict[str, str], cwd: Path, *argv: str) -> str:
    out = subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_every_example_s_calls_become_metrics_records(
    env: dict[str, str], worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    shown = {}
    for server in ("mcp_server.py", "fastmcp_server.py"):
        shown[server] = _run(env, tmp_path, str(EXAMPLES / "client.py"), str(EXAMPLES / server))
    _run(env, tmp_path, str(EXAMPLES / "decorated.py"))
    for out in shown.values():
        assert "tools: oc_read_get_pods, oc_write_scale_deployment" in out
        assert "is_error = True" in out  # the refused scale request reached the client as such

    records = _wait_for(tmp_path / "metrics", 7, timeout=90)
    assert worker.poll() is None
    seen = sorted((str(r["toolId"]), str(r.get("outcome", ""))) for r in records)
    assert len(records) == 7, seen
    calls = [(str(r["toolId"])) for r in records]
    assert calls.count("oc_read_get_pods") == 3  # mcp, fastmcp, decorated
    assert calls.count("oc_write_scale_deployment") == 2
    assert {"oc_read_logs", "oc_read_get_events"} <= set(calls)
    text = b"".join(p.read_bytes() for p in segments(tmp_path / "metrics"))
    assert b"s3cr3t-t0ken-value" not in text  # the decorated example's token was redacted
