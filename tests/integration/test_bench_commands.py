"""The benchmark commands run end to end and report every figure (no timing thresholds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


def _bench(target: str, tmp_path: Path) -> dict[str, object]:
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "TOOLTRAIL_DEMO_LATENCY_SCALE": "0",
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tooltrail.consumers.app.cli",
            "--log-level",
            "CRITICAL",
            "bench",
            target,
            "--quick",
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=600,
        check=True,
    )
    result: dict[str, object] = orjson.loads(out.stdout)  # stdout is exactly one JSON object
    return result


def test_bench_emit_reports_figures_and_ratios(tmp_path: Path) -> None:
    r = _bench("emit", tmp_path)
    emit = r["emit_us"]
    assert isinstance(emit, dict)
    assert emit["broker_up"]["n"] == emit["broker_down"]["n"] == 2000
    assert r["ratio_inline_over_emit_p50"] > 0
    burst = r["burst_10x"]
    assert isinstance(burst, dict)
    assert burst["accounted"] is True
    assert burst["queue_depth"] <= burst["queue_size"]
    assert burst["outbox_bytes"] <= burst["outbox_max_bytes"]
    throughput = r["throughput"]
    assert isinstance(throughput, dict)
    assert throughput["spilled"] == 0
    overflow = r["overflow_us"]
    assert isinstance(overflow, dict)
    assert overflow["dropped"] == overflow["n"] == 2000  # every call past a full queue counted
    sdks = r["sdk_overhead"]
    assert isinstance(sdks, dict)
    assert set(sdks) == {"mcp", "fastmcp"}
    received = r["otlp_spans_received"]
    assert isinstance(received, int)
    assert received > 0  # the OTLP peer really exported to its loopback receiver
    goal = r["goal_at_most_otel_otlp"]
    assert isinstance(goal, dict)
    assert set(goal) == {f"{sdk}/tooltrail_{state}" for sdk in sdks for state in ("up", "down")}
    for figures in sdks.values():
        variants = figures["variants"]
        assert set(variants) == {
            "plain",
            "otel_otlp",
            "otel_noop",
            "tooltrail_up",
            "tooltrail_down",
        }
        for name in ("otel_otlp", "otel_noop", "tooltrail_up", "tooltrail_down"):
            assert {"added_p50_us", "added_p99_us", "added_cpu_us", "p999_us", "max_us"} <= set(
                variants[name]
            )
        up, down = variants["tooltrail_up"]["events"], variants["tooltrail_down"]["events"]
        assert up["emitted"] == up["sent"] > 0  # the broker-up variant really reached Kafka
        assert down["emitted"] == down["spilled"] > 0  # and the broker-down one the outbox


def test_bench_metrics_reports_figures_and_ratios(tmp_path: Path) -> None:
    r = _bench("metrics", tmp_path)
    throughput, fresh = r["throughput"], r["freshness_ms"]
    assert isinstance(throughput, dict)
    assert isinstance(fresh, dict)
    assert throughput["events"] == 5000
    assert throughput["ratio"] > 0
    assert fresh["n"] == 3000


def test_bench_memory_reports_figures_and_ratios(tmp_path: Path) -> None:
    r = _bench("memory", tmp_path)
    throughput, fresh, query = r["throughput"], r["freshness_ms"], r["query_ms"]
    assert isinstance(throughput, dict)
    assert isinstance(fresh, dict)
    assert isinstance(query, dict)
    assert throughput["docs"] == 60
    assert throughput["embedder"] == "minilm"
    assert throughput["ratio"] > 0
    assert fresh["n"] == 80
    assert query["n"] == 50


def test_bench_enrich_reports_figures_and_ratios(tmp_path: Path) -> None:
    r = _bench("enrich", tmp_path)
    lookup, stale = r["lookup_us"], r["staleness_ms"]
    assert isinstance(lookup, dict)
    assert isinstance(stale, dict)
    assert lookup["keys"] == 10_000
    assert lookup["n"] == 20_000
    assert r["ratio_inline_over_lookup_p50"] > 0
    assert stale["n"] == stale["expected"] == 60  # every key reached the other process
    memory = r["cache_entry_bytes"]
    assert isinstance(memory, dict)
    assert memory["compact"] <= memory["counted"]  # the byte bound never undercounts
    assert memory["compact"] < memory["pydantic"]


def test_bench_situations_reports_consolidation_and_signed_hits(tmp_path: Path) -> None:
    r = _bench("situations", tmp_path)
    (run,) = r["rates"]  # type: ignore[misc]
    assert run["calls"] == 200
    assert run["freshness_ms"]["memory"]["n"] == run["freshness_ms"]["enrich"]["n"] == 200
    # situations, not calls: fewer memories and embeddings than the per-call baseline
    assert 0 < run["memories_per_1000"] < run["baseline_per_call"]["memories_per_1000"] == 1000
    assert run["embeddings_per_1000"] <= run["memories_per_1000"]
    hits = run["hits"]
    # every call was in a published batch, and each batch gave one entry per distinct key
    # (calls of one key in one batch coalesce, so entries may be fewer than calls)
    assert hits["calls_covered"] == 200
    assert 0 < hits["entries"] == hits["distinct_keys"] <= 200
    assert hits["hits"] > 0
    assert hits["entries_repeating_a_hit"] == 0  # never two hits of one situation
