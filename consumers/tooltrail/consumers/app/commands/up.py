"""``tooltrail up``: wire the embedded infrastructure, the groups and the demo traffic."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from tooltrail.consumers.app import live, pipeline
from tooltrail.consumers.app.commands import add, positive_float, positive_int
from tooltrail.consumers.app.demo.traffic import Traffic
from tooltrail.consumers.errors import UsageError
from tooltrail.consumers.files import private_dir
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.config import load_settings


def main(
    *, data_dir: str, demo: bool, events: int | None, as_json: bool, rate: float, timeout: float
) -> int:
    """Run until Ctrl-C (or until ``events`` are processed); print the summary."""
    live.require_rich("tooltrail up")  # before anything starts
    root = Path(data_dir)
    private_dir(root)
    private_dir(root / "logs")
    base = load_settings(WorkerSettings)
    with pipeline.infrastructure(root, base) as (bootstrap, url):
        settings = base.model_copy(
            update={
                "kafka_bootstrap": bootstrap,
                "chroma_url": url,
                "metrics_dir": root / "metrics",
                "state_dir": root / "state",
            }
        )
        result = asyncio.run(_run(settings, root, demo, events, as_json, rate, timeout))
    if as_json or events is not None:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    if "error" in result:
        print(f"tooltrail: error: {result['error']}", file=sys.stderr)
        return 1
    return 0


async def _run(
    settings: WorkerSettings,
    root: Path,
    demo: bool,
    events: int | None,
    as_json: bool,
    rate: float,
    timeout: float,  # noqa: ASYNC109 - the --timeout deadline of --events
) -> dict[str, Any]:
    from rich.console import Console
    from rich.live import Live

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console = Console(stderr=True)
    console.print(
        f"kafka {settings.kafka_bootstrap}  chroma {settings.chroma_url}  data {root}",
        soft_wrap=not console.is_terminal,
    )
    if as_json:
        return await pipeline.run(
            settings,
            root,
            demo=demo,
            events=events,
            rate=rate,
            timeout=timeout,
            view=None,
            stop=stop,
        )
    if not console.is_terminal:  # a log file or a pipe: a plain line every 10 s
        every = _Every(10.0, lambda rs, t: console.print(live.status_line(rs, t), soft_wrap=True))
        return await pipeline.run(
            settings,
            root,
            demo=demo,
            events=events,
            rate=rate,
            timeout=timeout,
            view=every,
            stop=stop,
        )
    with Live(console=console, refresh_per_second=2) as view, live.logs_through(console):
        return await pipeline.run(
            settings,
            root,
            demo=demo,
            events=events,
            rate=rate,
            timeout=timeout,
            view=lambda rs, t: view.update(live.table(rs, t)),
            stop=stop,
        )


class _Every:
    """Calls ``show`` at most once per ``interval`` seconds."""

    def __init__(self, interval: float, show: Callable[[list[GroupRunner], Traffic], None]) -> None:
        self.interval, self.show, self.last = interval, show, 0.0

    def __call__(self, runners: list[GroupRunner], traffic: Traffic) -> None:
        if time.monotonic() - self.last >= self.interval:
            self.last = time.monotonic()
            self.show(runners, traffic)


def register(commands: Any) -> None:
    """``tooltrail up``."""
    p = add(
        commands,
        "up",
        "the whole pipeline locally: broker, chroma, every group, demo traffic",
        "Start the embedded Tansu broker and a 'chroma run' server on loopback (or use "
        "TOOLTRAIL_KAFKA_BOOTSTRAP / TOOLTRAIL_CHROMA_URL), create the topics, run the "
        "metrics, memory and enrich groups in this process and show them live on stderr; "
        "with --demo, drive demo tool calls over MCP stdio. Ctrl-C stops everything.",
    )
    p.add_argument("--demo", action="store_true", help="drive demo tool calls over MCP stdio")
    p.add_argument(
        "--events",
        type=positive_int,
        default=None,
        help="with --demo: stop after N calls are processed by every group and print "
        "a JSON summary",
    )
    p.add_argument("--json", action="store_true", help="no live view; print the summary as JSON")
    p.add_argument("--data-dir", default="tooltrail-data", help="chroma data, metrics, logs")
    p.add_argument(
        "--rate",
        type=positive_float,
        default=None,
        help="demo calls per second, open loop (default 5; 50 with --events)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=600.0,
        help="with --events: give up after this many seconds (exit 1, summary)",
    )
    p.set_defaults(handler=_handle)


def _handle(args: Any) -> int:
    if args.events is not None and not args.demo:
        raise UsageError("--events counts demo calls: add --demo")
    rate = args.rate if args.rate is not None else (50.0 if args.events else 5.0)
    return main(
        data_dir=args.data_dir,
        demo=args.demo,
        events=args.events,
        as_json=args.json,
        rate=rate,
        timeout=args.timeout,
    )
