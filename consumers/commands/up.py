"""``tooltrail up``: wire the embedded infrastructure, the groups and the demo traffic."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.live import Live
from rich.table import Table

from consumers import up
from consumers.figures import pct
from consumers.files import private_dir
from consumers.runner import GroupRunner
from consumers.settings import WorkerSettings
from schemas.settings import load_settings


def _table(runners: list[GroupRunner], traffic: up.Traffic) -> Table:
    table = Table(title="tooltrail up — Ctrl-C to stop")
    table.add_column("group", no_wrap=True, min_width=17)
    for column in ("processed", "ev/s", "lag", "DLQ", "retries", "fresh p50 ms", "last error"):
        table.add_column(column)
    for r in runners:
        rate = up.processed(r) / max(time.monotonic() - r.stats.started, 1e-9)
        fresh = str(pct(list(r.stats.freshness_ms), 0.5)) if r.stats.freshness_ms else "-"
        table.add_row(r.group, str(up.processed(r)), f"{rate:.0f}",
                      str(sum(r.stats.lag().values())), str(r.stats.dead_lettered),
                      str(r.stats.retries), fresh, (r.stats.last_error or "")[:60])  # fmt: skip
    p50 = pct(traffic.latency_ms, 0.5) if traffic.latency_ms else "-"
    calls = f"demo tool calls: {traffic.calls} ({traffic.errors} tool errors), p50 {p50} ms"
    presearch = f"pre-search: {traffic.presearch_calls} calls got {traffic.presearch_hits} hits"
    table.caption = f"{calls} · {presearch}"
    return table


def main(*, data_dir: str, demo: bool, events: int | None, as_json: bool, rate: float,
         timeout: float) -> int:  # fmt: skip
    """Run until Ctrl-C (or until ``events`` are processed); print the summary."""
    root = Path(data_dir)
    private_dir(root)
    private_dir(root / "logs")
    base = load_settings(WorkerSettings)
    with up.infrastructure(root) as (bootstrap, url):
        settings = base.model_copy(update={
            "kafka_bootstrap": bootstrap, "chroma_url": url,
            "metrics_dir": root / "metrics", "state_dir": root / "state",
        })  # fmt: skip
        try:
            result = asyncio.run(_run(settings, root, demo, events, as_json, rate, timeout))
        except TimeoutError as exc:
            report: Any = exc.args[0] if exc.args else {}
            print(orjson.dumps({"error": f"not every group caught up within {timeout:.0f}s",
                                **report}, option=orjson.OPT_INDENT_2).decode())  # fmt: skip
            return 1
    if as_json or events is not None:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


async def _run(settings: WorkerSettings, root: Path, demo: bool, events: int | None,
               as_json: bool, rate: float,
               timeout: float) -> dict[str, Any]:  # fmt: skip  # noqa: ASYNC109 - --events deadline
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console = Console(stderr=True)
    console.print(f"kafka {settings.kafka_bootstrap}  chroma {settings.chroma_url}  data {root}")
    if as_json:
        return await up.run(settings, root, demo=demo, events=events, rate=rate,
                            timeout=timeout, view=None, stop=stop)  # fmt: skip
    with Live(console=console, refresh_per_second=2) as live:
        return await up.run(settings, root, demo=demo, events=events, rate=rate, timeout=timeout,
                            view=lambda rs, t: live.update(_table(rs, t)), stop=stop)  # fmt: skip
