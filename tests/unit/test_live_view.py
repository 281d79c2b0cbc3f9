"""``tooltrail up``'s live view and summary: every line fits 80 columns unwrapped, each figure
says what it is, the title appears once."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from tooltrail.consumers.app import live
from tooltrail.consumers.app.commands.infra import exports as infra_exports
from tooltrail.consumers.app.commands.up import exports as up_exports
from tooltrail.consumers.app.demo.traffic import Traffic
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.settings import WorkerSettings

counts = st.integers(min_value=0, max_value=10**9)
rates = st.floats(min_value=0.01, max_value=1e7, allow_nan=False)


def _traffic(calls: int, errors: int, hits: int, rate: float, latency: float) -> Traffic:
    traffic = Traffic()
    traffic.calls, traffic.errors, traffic.asked_rate = calls, errors, rate
    traffic.presearch_calls, traffic.presearch_hits = hits, hits * 3
    traffic.latency_ms = [latency]
    return traffic


def _runner(name: str, written: int) -> Any:
    stats = GroupStats(f"tooltrail-{name}", name)
    stats.written = written
    stats.freshness_ms.append(41.0)
    stats.failed("RetriableSinkError: chroma at http://127.0.0.1:8000 refused the connection")
    return SimpleNamespace(sink=SimpleNamespace(name=name), stats=stats)


def _screen(renderable: Any) -> list[str]:
    console = Console(width=80, file=io.StringIO(), record=True, color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


@settings(max_examples=60, deadline=None)
@given(counts, counts, counts, rates, st.floats(min_value=0, max_value=1e9))
def test_each_demo_line_fits_80_columns_whatever_the_figures(
    calls: int, errors: int, hits: int, rate: float, latency: float
) -> None:
    traffic = _traffic(max(calls, 1), errors, hits, rate, latency)
    lines = live.demo_lines(traffic)
    assert lines
    assert all(len(line) <= 80 for line in lines), lines
    screen = _screen(live.view([_runner("memory", calls)], traffic))
    for line in lines:  # rendered whole, on one line each: nothing wrapped
        assert line in [row.rstrip() for row in screen]
    assert max(len(row) for row in screen) <= 80


def test_the_rate_says_calls_per_second_and_the_freshness_is_named_p50() -> None:
    traffic = _traffic(10, 2, 1, 5.0, 12.0)
    screen = "\n".join(_screen(live.view([_runner("metrics", 10)], traffic)))
    assert "5.0/5" not in screen
    assert "(asked 5.0/s)" in screen
    assert "fresh p50" in screen
    assert live.LEGEND in screen  # says what fresh p50 is
    assert screen.count("tooltrail up") == 1


def test_the_view_says_it_is_stopping() -> None:
    screen = "\n".join(_screen(live.view([_runner("enrich", 1)], Traffic(), stopping=True)))
    assert "stopping" in screen
    assert "Ctrl-C to stop" not in screen


def test_the_summary_names_every_group_and_where_the_data_went() -> None:
    result = {
        "events": 40,
        "tool_errors": 9,
        "seconds": 12.3,
        "rate": {"asked": 5.0, "achieved": 4.9, "late_calls": 0},
        "presearch": {"calls_with_hits": 7, "hits": 15},
        "groups": {
            name: {
                "processed": 40,
                "lag": 0,
                "dead_lettered": 0,
                "freshness_ms": {"p50": 40.0, "p99": float("nan")},
            }
            for name in ("metrics", "memory", "enrich")
        },
    }
    lines = live.summary_lines(result, embedded=True)
    assert lines[0] == "stopped after 12 s"
    assert any(line.startswith("memory   40 done, lag 0") for line in lines)
    assert any("p99 -" in line for line in lines)  # no sample is not "nan"
    assert any("tooltrail infra" in line for line in lines)
    assert all(len(line) <= 80 for line in lines)
    assert not any("tooltrail infra" in line for line in live.summary_lines(result, embedded=False))


def test_up_and_infra_print_export_lines_a_shell_takes(tmp_path: Any) -> None:
    import shlex
    import subprocess

    root = tmp_path / "data dir"
    settings = WorkerSettings(
        kafka_bootstrap="127.0.0.1:41000",
        chroma_url="http://127.0.0.1:41001",
        metrics_dir=root / "metrics",
    )
    for lines in (
        up_exports(settings, root),
        infra_exports(settings.kafka_bootstrap, "http://127.0.0.1:41001", root),
    ):
        script = "\n".join(line for line in lines if line.strip().startswith(("export", "#")))
        shell = f"{script}\necho $TOOLTRAIL_KAFKA_BOOTSTRAP $TOOLTRAIL_CHROMA_URL\n"
        shell += "printf '%s' \"$TOOLTRAIL_METRICS_DIR\""
        out = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True)
        first, metrics = out.stdout.split("\n", 1)
        assert first == "127.0.0.1:41000 http://127.0.0.1:41001"
        assert metrics == str(root / "metrics")
        assert shlex.quote(str(root / "metrics")) in "\n".join(lines)
