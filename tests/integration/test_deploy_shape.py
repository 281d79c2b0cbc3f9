"""The deployment's shape in processes: one worker per group, probes, and the demo service.

This is what ``deploy/compose.yaml`` and the Kubernetes Deployments run (the same commands,
the same environment variables), against the real broker and chroma: each group in its own
``tooltrail worker <group> --metrics-port`` process, readiness on ``/readyz``, the demo
service (``tooltrail demo``) feeding them over MCP stdio, and a clean stop on SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.conftest import TEST_ENRICHMENT_KEY, KafkaEndpoint, Names
from tests.monitoring_checks import exported_families, monitoring_queries, promtool, used_metrics
from tooltrail.consumers.app.launcher import ChromaServer, free_port
from tooltrail.consumers.sinks.metrics import segments

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
GROUPS = ("metrics", "memory", "enrich")


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)


def _counter(port: int, name: str, group: str) -> int:
    pattern = rf'^{name}{{group="{re.escape(group)}"}} ([0-9.e+]+)$'
    m = re.search(pattern, _get(port, "/metrics")[1], re.M)
    return int(float(m.group(1))) if m else -1


def test_one_worker_per_group_behind_probes_fed_by_the_demo_service(
    kafka: KafkaEndpoint, chroma: ChromaServer, names: Names, tmp_path: Path
) -> None:
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "TOOLTRAIL_CHROMA_URL": chroma.url,
        "TOOLTRAIL_EVENTS_TOPIC": names.events,
        "TOOLTRAIL_DLQ_TOPIC": names.dlq,
        "TOOLTRAIL_ENRICHMENT_TOPIC": names.enrichment,
        "TOOLTRAIL_CHROMA_COLLECTION": names.collection,
        "TOOLTRAIL_METRICS_GROUP": f"{names.group}-metrics",
        "TOOLTRAIL_MEMORY_GROUP": f"{names.group}-memory",
        "TOOLTRAIL_ENRICH_GROUP": f"{names.group}-enrich",
        "TOOLTRAIL_METRICS_DIR": str(tmp_path / "metrics"),
        "TOOLTRAIL_EMBEDDER": "hashing",
        "TOOLTRAIL_TOPIC_PARTITIONS": "3",
        "TOOLTRAIL_SESSION_TIMEOUT_MS": "2000",
        "TOOLTRAIL_HEARTBEAT_INTERVAL_MS": "500",
        "TOOLTRAIL_DEMO_LATENCY_SCALE": "0",
        "TOOLTRAIL_ENRICHMENT_KEY": TEST_ENRICHMENT_KEY,
    }
    ports = {group: free_port() for group in GROUPS}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for group, port in ports.items():
            with (tmp_path / f"{group}.log").open("ab") as err:
                procs[group] = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tooltrail.consumers.app.cli",
                        "worker",
                        group,
                        "--metrics-port",
                        str(port),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
        for group, port in ports.items():
            _until(lambda p=port: _get(p, "/readyz") == (200, "ready\n"), 90, f"{group} ready")
            assert _get(port, "/healthz") == (200, "ok\n")
        demo = subprocess.run(
            [
                sys.executable,
                "-m",
                "tooltrail.consumers.app.cli",
                "--log-level",
                "WARNING",
                "demo",
                "--events",
                "24",
                "--rate",
                "50",
                "--data-dir",
                str(tmp_path / "demo"),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert demo.returncode == 0, demo.stderr.decode()[-2000:]
        assert demo.stdout.count(b"\n") == 1  # one JSON summary, nothing else on stdout
        assert orjson.loads(demo.stdout)["events"] == 24

        for group, port in ports.items():
            counter = "tooltrail_consumed_total" if group == "enrich" else "tooltrail_written_total"
            name = env[f"TOOLTRAIL_{group.upper()}_GROUP"]
            _until(lambda p=port, c=counter, n=name: _counter(p, c, n) == 24, 90, f"{group} 24")
        lines = [
            line for p in segments(tmp_path / "metrics") for line in p.read_bytes().splitlines()
        ]
        assert len(lines) == 24
        assert procs["memory"].poll() is None
        assert procs["enrich"].poll() is None
        # what the dashboard and the alert rules read, every running worker exports
        wanted = {m for m in used_metrics(monitoring_queries()) if "_producer_" not in m}
        tool = promtool()
        assert tool is not None or not os.environ.get("CI"), ".ci/run installs promtool"
        for group, port in ports.items():
            scrape = _get(port, "/metrics")[1]
            missing = wanted - exported_families(scrape)
            assert not missing, (group, missing)
            if tool is not None:  # Prometheus's own linter on a real scrape
                lint = subprocess.run(
                    [tool, "check", "metrics"], input=scrape, capture_output=True, text=True
                )
                assert (lint.returncode, lint.stdout + lint.stderr) == (0, ""), group

        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        assert {g: p.wait(30) for g, p in procs.items()} == dict.fromkeys(GROUPS, 0)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
