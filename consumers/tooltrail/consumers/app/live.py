"""What ``tooltrail up`` shows while it runs: a live table on a terminal, a status line
elsewhere, and logs routed through the live display so they never tear the table.

rich comes with the ``cli`` extra and is imported only where it draws: a worker install
(``tooltrail[worker]``) runs every other command without it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tooltrail.consumers.app.demo.traffic import Traffic
from tooltrail.consumers.app.figures import pct
from tooltrail.consumers.app.pipeline import processed
from tooltrail.consumers.errors import UsageError
from tooltrail.consumers.runtime.runner import GroupRunner

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def require_rich(command: str) -> None:
    """Raise a one-line ``UsageError`` (exit 2) if rich, the ``cli`` extra, is not installed."""
    try:
        import rich  # noqa: F401
    except ModuleNotFoundError:
        raise UsageError(
            f"{command} needs the CLI extra (rich): pip install 'tooltrail[cli]'"
        ) from None


def _row(r: GroupRunner) -> tuple[str, ...]:
    rate = processed(r) / max(time.monotonic() - r.stats.started, 1e-9)
    fresh = f"{pct(list(r.stats.freshness_ms), 0.5):.0f}" if r.stats.freshness_ms else "-"
    state = "stuck" if r.stats.stuck else ("retrying" if r.stats.retrying_since else "")
    error = (r.stats.last_error or "") if state else ""
    return (
        r.sink.name,
        str(processed(r)),
        f"{rate:.0f}",
        str(sum(r.stats.lag().values())),
        str(r.stats.dead_lettered),
        str(r.stats.retries),
        fresh,
        f"{state}: {error}" if state else "ok",
    )


def _demo(traffic: Traffic) -> str:
    p50 = f"{pct(traffic.latency_ms, 0.5):.0f}" if traffic.latency_ms else "-"
    rate = f"{traffic.achieved_rate:.1f}/{traffic.asked_rate:g} per s" if traffic.calls else "-"
    return (
        f"demo: {traffic.calls} calls ({traffic.errors} tool errors, on purpose), {rate}, "
        f"p50 {p50} ms · pre-search: {traffic.presearch_calls} calls got "
        f"{traffic.presearch_hits} hits"
    )


def table(runners: list[GroupRunner], traffic: Traffic) -> Table:
    """The live table; fits an 80-column terminal (the status column is cut first)."""
    from rich import box
    from rich.table import Table

    out = Table(
        title="tooltrail up — Ctrl-C to stop",
        box=box.SIMPLE_HEAD,
        caption=_demo(traffic),
        caption_justify="left",
    )
    for name, justify in (
        ("group", "left"),
        ("done", "right"),
        ("ev/s", "right"),
        ("lag", "right"),
        ("dlq", "right"),
        ("retries", "right"),
        ("fresh ms", "right"),
    ):
        out.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    out.add_column("status", no_wrap=True, overflow="ellipsis", max_width=30)
    for r in runners:
        out.add_row(*_row(r))
    return out


def status_line(runners: list[GroupRunner], traffic: Traffic) -> str:
    """One plain line of the same figures, for a stderr that is not a terminal."""
    rows = [_row(r) for r in runners]
    groups = " · ".join(f"{r[0]} {r[1]} done lag {r[3]} dlq {r[4]} {r[7]}" for r in rows)
    return f"{groups} | {_demo(traffic)}"


@contextlib.contextmanager
def logs_through(console: Console) -> Iterator[None]:
    """While the live view runs, log records are printed by rich above the table.

    The new handler keeps the level and filters (redaction) of the handlers it replaces.
    """
    from rich.logging import RichHandler

    root = logging.getLogger()
    saved = root.handlers[:]
    handler = RichHandler(console=console, show_path=False, markup=False, rich_tracebacks=False)
    handler.setLevel(min((h.level for h in saved), default=logging.NOTSET))
    for existing in saved:
        for filt in existing.filters:
            handler.addFilter(filt)
    root.handlers[:] = [handler]
    try:
        yield
    finally:
        root.handlers[:] = saved
