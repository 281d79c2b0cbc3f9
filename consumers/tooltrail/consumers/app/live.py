"""What ``tooltrail up`` shows while it runs: a live table on a terminal, a status line
elsewhere, a summary when it stops, and logs routed through the live display so they never
tear the table.

Every line is at most 80 characters (the demo's lines are separate, never wrapped), and each
figure says what it is: ``fresh p50`` is the median time from a call's end to its durable
write. rich comes with the ``cli`` extra and is imported only where it draws: a worker install
(``tooltrail[worker]``) runs every other command without it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tooltrail.consumers.app.demo.traffic import Traffic
from tooltrail.consumers.app.figures import pct
from tooltrail.consumers.app.pipeline import processed
from tooltrail.consumers.errors import UsageError
from tooltrail.consumers.runtime.runner import GroupRunner

if TYPE_CHECKING:
    from rich.console import Console, Group

#: The legend under the table: what the one unlabelled-looking figure means.
LEGEND = "fresh p50: median ms from a call's end to its durable write"


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


def _count(n: float) -> str:
    """A count in at most 5 characters: 999, 12.3k, 4.5M."""
    if n < 10_000:
        return f"{n:.0f}"
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def _rate(per_s: float) -> str:
    """A rate in at most 7 characters."""
    return f"{min(per_s, 99_999):.1f}"


def demo_lines(traffic: Traffic) -> list[str]:
    """The demo's figures, one fact per line, each under 80 characters."""
    if not traffic.calls:
        return ["demo: waiting for the first call"] if traffic.asked_rate else []
    p50 = _count(pct(traffic.latency_ms, 0.5)) if traffic.latency_ms else "-"
    achieved, asked = _rate(traffic.achieved_rate), _rate(traffic.asked_rate)
    return [
        f"demo: {_count(traffic.calls)} calls at {achieved}/s (asked {asked}/s), call p50 {p50} ms",
        f"  {_count(traffic.errors)} tool errors (on purpose) · pre-search: "
        f"{_count(traffic.presearch_calls)} calls got {_count(traffic.presearch_hits)} hits",
    ]


def view(runners: list[GroupRunner], traffic: Traffic, *, stopping: bool = False) -> Group:
    """The live table with the demo's lines and the legend under it (fits 80 columns)."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    # both titles fit the table's width: a wrapped title would change the view's height
    title = "tooltrail up — stopping: committing" if stopping else "tooltrail up — Ctrl-C to stop"
    out = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for name, justify in (
        ("group", "left"),
        ("done", "right"),
        ("ev/s", "right"),
        ("lag", "right"),
        ("dlq", "right"),
        ("retries", "right"),
        ("fresh p50", "right"),
    ):
        out.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    out.add_column("status", no_wrap=True, overflow="ellipsis", max_width=24)
    for r in runners:
        out.add_row(*_row(r))
    lines = [*demo_lines(traffic), LEGEND]
    return Group(out, *(Text(line, no_wrap=True, overflow="ellipsis") for line in lines))


def status_line(runners: list[GroupRunner], traffic: Traffic) -> str:
    """One plain line of the same figures, for a stderr that is not a terminal."""
    rows = [_row(r) for r in runners]
    groups = " · ".join(f"{r[0]} {r[1]} done lag {r[3]} dlq {r[4]} {r[7]}" for r in rows)
    demo = " ".join(line.strip() for line in demo_lines(traffic)) or "demo: off"
    return f"{groups} | {demo}"


def summary_lines(result: dict[str, Any], *, embedded: bool) -> list[str]:
    """What ``up`` prints when it stops (Ctrl-C): the run's figures, where its data is."""
    lines = [f"stopped after {result['seconds']:.0f} s"]
    if result["events"]:
        rate = result["rate"]
        lines.append(
            f"demo: {result['events']} calls at {rate['achieved']:.1f}/s "
            f"(asked {rate['asked']:.1f}/s), "
            f"{result['tool_errors']} tool errors (on purpose)"
        )
        lines.append(
            f"pre-search: {result['presearch']['calls_with_hits']} calls were handed "
            f"{result['presearch']['hits']} related memories"
        )
    for name, g in result["groups"].items():
        fresh = g["freshness_ms"]
        lines.append(
            f"{name:<8} {g['processed']} done, lag {g['lag']}, {g['dead_lettered']} dead letters, "
            f"fresh p50 {_ms(fresh['p50'])} / p99 {_ms(fresh['p99'])}"
        )
    if embedded:
        lines += [
            "the embedded broker kept its topics in memory: they are gone; Chroma's data and",
            "the metrics files stay under the data directory. To keep both running for the",
            "operator commands, start 'tooltrail infra' first and export what it prints.",
        ]
    return lines


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:.0f} ms"  # NaN: no sample


@contextlib.contextmanager
def logs_through(console: Console, level: int | None = None) -> Iterator[None]:
    """While the live view runs, log records are printed by rich above the table.

    The new handler keeps the filters (redaction) of the handlers it replaces, and their level
    unless ``level`` is given (the live view shows warnings and above: the table says the rest).
    """
    from rich.logging import RichHandler

    root = logging.getLogger()
    saved = root.handlers[:]
    handler = RichHandler(console=console, show_path=False, markup=False, rich_tracebacks=False)
    kept = min((h.level for h in saved), default=logging.NOTSET)
    handler.setLevel(kept if level is None else max(kept, level))
    for existing in saved:
        for filt in existing.filters:
            handler.addFilter(filt)
    root.handlers[:] = [handler]
    try:
        yield
    finally:
        root.handlers[:] = saved
