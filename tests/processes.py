"""Worker processes for reliability tests: environment, start, scrape, resident memory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import TEST_ENRICHMENT_KEY, Names
from tooltrail.consumers.app.launcher import free_port

ROOT = Path(__file__).parents[1]


def worker_env(
    bootstrap: str, names: Names, tmp: Path, chroma_url: str | None = None, **extra: str
) -> dict[str, str]:
    """Every ``TOOLTRAIL_*`` a test worker needs, with this test's unique names."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "TOOLTRAIL_KAFKA_BOOTSTRAP": bootstrap,
        "TOOLTRAIL_EVENTS_TOPIC": names.events,
        "TOOLTRAIL_DLQ_TOPIC": names.dlq,
        "TOOLTRAIL_ENRICHMENT_TOPIC": names.enrichment,
        "TOOLTRAIL_STATUS_TOPIC": f"{names.events}.status",
        "TOOLTRAIL_METRICS_GROUP": names.group + "-metrics",
        "TOOLTRAIL_MEMORY_GROUP": names.group + "-memory",
        "TOOLTRAIL_ENRICH_GROUP": names.group + "-enrich",
        "TOOLTRAIL_METRICS_DIR": str(tmp / "metrics"),
        "TOOLTRAIL_STATE_DIR": str(tmp / "state"),
        "TOOLTRAIL_TOPIC_PARTITIONS": "3",
        "TOOLTRAIL_SESSION_TIMEOUT_MS": "2000",
        "TOOLTRAIL_HEARTBEAT_INTERVAL_MS": "500",
        "TOOLTRAIL_EMBEDDER": "hashing",
        "TOOLTRAIL_CHROMA_COLLECTION": names.collection,
        "TOOLTRAIL_LAG_INTERVAL_S": "1",
        "TOOLTRAIL_RETRY_BACKOFF_INITIAL_S": "0.2",
        "TOOLTRAIL_RETRY_BACKOFF_MAX_S": "1",
        "TOOLTRAIL_ENRICHMENT_KEY": TEST_ENRICHMENT_KEY,  # the enrich group signs, servers verify
    }
    if chroma_url:
        env["TOOLTRAIL_CHROMA_URL"] = chroma_url
    env.update(extra)
    return env


class Worker:
    """A ``tooltrail worker`` process with its HTTP port and log file."""

    def __init__(self, group: str, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tooltrail.consumers.app.cli",
                    "worker",
                    group,
                    "--metrics-port",
                    str(self.port),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def get(self, path: str) -> tuple[int, str]:
        """(status, body) of a GET on the worker's port; (0, "") if it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=3) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode()
        except OSError:
            return 0, ""

    def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name`` over the series matching ``labels`` (0 if none)."""
        total = 0.0
        for line in self.get("/metrics")[1].splitlines():
            head, _, value = line.rpartition(" ")
            if head.startswith(name + "{") and all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def rss_mb(self) -> float:
        """Resident memory of the process in MB."""
        return self._status_mb("VmRSS:")

    def peak_rss_mb(self) -> float:
        """The most resident memory the process has had, in MB."""
        return self._status_mb("VmHWM:")

    def _status_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self, timeout: float = 60.0) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL if still running."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@contextlib.contextmanager
def worker(group: str, env: dict[str, str], log: Path) -> Iterator[Worker]:
    """A worker killed at the end whatever happens."""
    w = Worker(group, env, log)
    try:
        yield w
    except BaseException:
        _show_tail(log)  # pytest shows captured output with the failure
        raise
    finally:
        w.kill()


def _show_tail(log: Path, lines: int = 40) -> None:
    """The last lines of a worker's log (long lines cut), for a failing test's report."""
    try:
        tail = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return
    print(f"--- last {len(tail)} lines of {log.name}:")
    for line in tail:
        print(line[:400])
