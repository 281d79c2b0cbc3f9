"""A short bounded soak (issue 28): a tool server's resident memory levels off.

A real tool server process (producer + enrichment cache) makes steady calls, each with new
arguments, against the real broker; a real enrich group publishes a signed entry for every new
key, so the cache sees an endless stream of keys and only its byte bound keeps it flat. RSS is
read from /proc many times; the slope over the last third must be a small fraction of the
slope over the first third (when the cache fills). An unbounded cache grows at the same rate
all along and fails this.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tests.kafka_helpers import wait_for
from tests.processes import ROOT, worker, worker_env
from tooltrail.consumers.app.launcher import ChromaServer

pytestmark = pytest.mark.reliability

RATE = 250  # calls per second
SECONDS = 20.0
CACHE_BYTES = 512 * 1024  # a fifth of what 20 s of new keys hold, so the bound must act
LEVELS_OFF = 0.25  # the last third grows at most this fraction of the first third's rate


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (0 once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    return next((int(x.split()[1]) for x in lines if x.startswith("VmRSS:")), 0)


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares KiB per second over ``points`` (many samples: one outlier barely moves it)."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    num = sum((t - mt) * (v - mv) for t, v in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    return num / den


def last_stats(log: Path) -> dict[str, object]:
    """The tool server's last stats line."""
    lines = [x for x in log.read_text().splitlines() if x.startswith("{")]
    return dict(orjson.loads(lines[-1])) if lines else {}


@pytest.mark.timeout(180)
async def test_a_tool_server_under_steady_new_keys_levels_off_in_memory(
    kafka: KafkaEndpoint, names: Names, chroma: ChromaServer, tmp_path: Path
) -> None:
    # one process, one session: hand each call situations of its own session, its own too,
    # so entries carry hits (what a busy server's cache holds) and not just empty keys
    env = worker_env(
        kafka.bootstrap,
        names,
        tmp_path,
        chroma.url,
        TOOLTRAIL_ENRICH_EXCLUDE_SAME_SESSION="false",
        TOOLTRAIL_ENRICH_INCLUDE_OWN_SITUATION="true",
    )
    with (
        worker("memory", env, tmp_path / "memory.log") as memory,
        worker("enrich", env, tmp_path / "enrich.log") as enrich,
    ):
        ready = (memory, enrich)
        await wait_for(lambda: all(w.get("/readyz")[0] == 200 for w in ready), 60, "groups ready")
        server_env = {
            **env,
            "TOOLTRAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
            "TOOLTRAIL_ENRICHMENT_MAX_BYTES": str(CACHE_BYTES),
            "TOOLTRAIL_ENRICHMENT_MAX_ENTRIES": "10000000",
        }
        log = tmp_path / "server.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.soak_server", str(RATE), str(SECONDS)],
                cwd=ROOT,
                env=server_env,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        try:
            await wait_for(lambda: log.stat().st_size > 0, 30, "the tool server's first call")
            started = time.monotonic()
            samples: list[tuple[float, int]] = []
            while proc.poll() is None:
                if kb := rss_kb(proc.pid):
                    samples.append((time.monotonic() - started, kb))
                time.sleep(0.2)
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert out == b""  # nothing on stdout from the producer path
    stats = last_stats(log)
    assert int(str(stats["calls"])) >= RATE * SECONDS * 0.9
    # the cache really was pushed against its bound: otherwise this proves nothing
    assert int(str(stats["enrichment_bytes"])) >= CACHE_BYTES // 2, stats
    samples = [s for s in samples if s[0] <= SECONDS]  # steady calls only, not the close
    third = len(samples) // 3
    assert third >= 20, samples
    first, last = slope(samples[:third]), slope(samples[-third:])
    print(f"RSS {samples[0][1]} -> {samples[-1][1]} KiB; slopes {first:.0f} / {last:.0f} KiB/s")
    assert first > 0, samples
    assert last <= LEVELS_OFF * first, (first, last, samples[::5])
