"""``tooltrail up``: wire the embedded infrastructure, the groups and the demo traffic."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tooltrail.consumers.app import live, pipeline
from tooltrail.consumers.app.app_settings import app_settings, explicitly_set
from tooltrail.consumers.app.commands import add, positive_float, positive_int
from tooltrail.consumers.app.demo.traffic import Traffic
from tooltrail.consumers.app.signing_key import with_data_dir_key
from tooltrail.consumers.errors import UsageError
from tooltrail.consumers.files import private_dir
from tooltrail.consumers.runtime.runner import GroupRunner
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.config import load_settings

if TYPE_CHECKING:
    from rich.console import Console


def main(
    *,
    data_dir: str,
    demo: bool,
    events: int | None,
    as_json: bool,
    rate: float,
    timeout: float,
    log_level_chosen: bool = False,
) -> int:
    """Run until Ctrl-C (or until ``events`` are processed); print the summary."""
    live.require_rich("tooltrail up")  # before anything starts
    status_interval = app_settings().up_status_interval_s  # a bad value fails before that too
    from rich.console import Console

    root = Path(data_dir)
    private_dir(root)
    private_dir(root / "logs")
    base = with_data_dir_key(load_settings(WorkerSettings), root)
    console = Console(stderr=True)
    interactive = console.is_terminal and not as_json
    # on a terminal the table says how things go: warnings and above only, in rich's format
    # from the first line on, unless a level was asked for
    quiet = None if log_level_chosen else logging.WARNING
    logs = live.logs_through(console, quiet) if interactive else contextlib.nullcontext()
    with logs, pipeline.infrastructure(root, base) as (bootstrap, url):
        settings = base.model_copy(
            update={
                "kafka_bootstrap": bootstrap,
                "chroma_url": url,
                # the exported TOOLTRAIL_METRICS_DIR of 'tooltrail infra' wins: the operator
                # commands of a second terminal read the same files
                "metrics_dir": _configured(base, "metrics_dir", root / "metrics"),
                "state_dir": _configured(base, "state_dir", root / "state"),
            }
        )
        for line in exports(settings, root):
            console.print(line, soft_wrap=True, highlight=False, markup=False)
        result = asyncio.run(
            _run(settings, root, console, demo, events, as_json, rate, timeout, status_interval)
        )
    if as_json or events is not None:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        embedded = not explicitly_set(base, "kafka_bootstrap")
        print("\n".join(live.summary_lines(result, embedded=embedded)), flush=True)
    if "error" in result:
        print(f"tooltrail: error: {result['error']}", file=sys.stderr)
        return 1
    return 0


def _configured(settings: WorkerSettings, field: str, default: Path) -> Path:
    """The directory set in the environment, else ``default`` under the data directory."""
    value: Path = getattr(settings, field)
    return value if explicitly_set(settings, field) else default


def exports(settings: WorkerSettings, root: Path) -> list[str]:
    """The lines that point a second terminal's ``tooltrail`` commands at this pipeline."""
    values = {
        "TOOLTRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "TOOLTRAIL_CHROMA_URL": settings.chroma_url or "",
        "TOOLTRAIL_METRICS_DIR": str(settings.metrics_dir.absolute()),
    }
    if settings.enrichment_key_file is not None:  # tool servers verify entries with it
        values["TOOLTRAIL_ENRICHMENT_KEY_FILE"] = str(settings.enrichment_key_file)
    return [
        f"kafka {settings.kafka_bootstrap} · chroma {settings.chroma_url} · data {root}",
        "In another terminal, point the operator commands at this pipeline:",
        *(f"  export {name}={shlex.quote(value)}" for name, value in values.items()),
        "  tooltrail stats   (and dlq list, memory search TEXT, metrics export --out F)",
    ]


async def _run(
    settings: WorkerSettings,
    root: Path,
    console: Console,
    demo: bool,
    events: int | None,
    as_json: bool,
    rate: float,
    timeout: float,  # noqa: ASYNC109 - the --timeout deadline of --events
    status_interval: float = 10.0,
) -> dict[str, Any]:
    from rich.live import Live

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    run = functools.partial(
        pipeline.run, settings, root, demo=demo, events=events, rate=rate, timeout=timeout
    )
    if as_json:
        return await run(view=None, stop=stop)
    if not console.is_terminal:  # a log file or a pipe: a plain line every so often
        every = _Every(
            status_interval, lambda rs, t: console.print(live.status_line(rs, t), soft_wrap=True)
        )
        return await run(view=every, stop=stop)
    latest = _Latest()
    # the table is drawn from the latest figures on every refresh, so it keeps moving (and
    # says so) while the groups stop; transient: the summary replaces it, printed once
    with Live(
        console=console,
        refresh_per_second=2,
        transient=True,
        get_renderable=lambda: latest.render(stopping=stop.is_set()),
    ):
        return await run(view=latest, stop=stop)


class _Latest:
    """Keeps the latest figures the pipeline reported, for the live view to draw."""

    def __init__(self) -> None:
        self.runners: list[GroupRunner] = []
        self.traffic = Traffic()

    def __call__(self, runners: list[GroupRunner], traffic: Traffic) -> None:
        self.runners, self.traffic = runners, traffic

    def render(self, *, stopping: bool) -> Any:
        return live.view(self.runners, self.traffic, stopping=stopping)


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
        log_level_chosen=args.log_level is not None or explicitly_set(app_settings(), "log_level"),
    )
