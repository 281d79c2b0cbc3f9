"""``tooltrail replay memory``: plan, run with a progress bar, verify, swap."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from consumers import replay
from consumers.settings import WorkerSettings

_JSON = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


def parse_offsets(text: str | None) -> dict[int, int] | None:
    """``0:120,1:80`` → ``{0: 120, 1: 80}``."""
    if not text:
        return None
    try:
        return {int(p): int(o) for p, o in (part.split(":", 1) for part in text.split(","))}
    except ValueError:
        raise SystemExit(
            f"tooltrail: error: --offsets {text!r}: expected partition:offset[,…]"
        ) from None


def main(settings: WorkerSettings, *, since: str | None, offsets: str | None, swap: bool,
         drop_old: bool, dry_run: bool, fresh: bool, as_json: bool) -> int:  # fmt: skip
    """Run the whole replay; print one summary (JSON with ``--json``) on stdout."""
    when = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
    if when is not None and when.tzinfo is None:
        raise SystemExit("tooltrail: error: --since needs a timezone (e.g. 2026-11-23T10:00:00Z)")
    state = asyncio.run(replay.plan(settings, when, parse_offsets(offsets), fresh))
    summary: dict[str, object] = {"targets": state.targets, "start": state.start, "end": state.end,
                                  "to_read": state.total - state.done}  # fmt: skip
    if dry_run:
        summary["dry_run"] = True
        print(orjson.dumps(summary, option=_JSON).decode())
        return 0
    console = Console(stderr=True)
    started = time.monotonic()
    with Progress(TextColumn("replay memory"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]} ev/s"), TimeRemainingColumn(),
                  console=console) as bar:  # fmt: skip
        task = bar.add_task("replay", total=state.total, rate="0")

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total,
                       rate=f"{replay.elapsed_rate(started, done):.0f}")  # fmt: skip

        asyncio.run(replay.run(settings, state, progress))
    check = replay.verify(settings, state)
    summary.update(verify=check, skipped_invalid=state.skipped)
    if not check["ok"]:
        summary["error"] = "verification failed: not swapped; re-run to resume or --fresh"
    elif swap:
        summary["swapped"] = replay.swap(settings, state, drop_old)
    if as_json:
        print(orjson.dumps(summary, option=_JSON).decode())
    else:
        print(f"replayed {state.done} events into {sorted(set(state.targets.values()))}: "
              f"{check['count']} memories (expected {check['expected']}), "
              f"sample {check['sample_found']}/{check['sampled']} found")  # fmt: skip
        for action in summary.get("swapped", []):  # type: ignore[attr-defined]
            print(f"  {action}")
    return 0 if check["ok"] else 1
