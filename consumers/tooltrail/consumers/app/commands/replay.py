"""``tooltrail replay memory``: plan, run with a progress bar, verify, swap."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from tooltrail.consumers.app.commands import add, iso_time, subcommands, worker_settings
from tooltrail.consumers.app.live import require_rich
from tooltrail.consumers.errors import UsageError
from tooltrail.consumers.settings import WorkerSettings

_JSON = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


def parse_offsets(text: str | None) -> dict[int, int] | None:
    """``0:120,1:80`` → ``{0: 120, 1: 80}``."""
    if not text:
        return None
    try:
        return {int(p): int(o) for p, o in (part.split(":", 1) for part in text.split(","))}
    except ValueError:
        raise UsageError(
            f"--offsets {text!r}: expected PARTITION:OFFSET[,…], e.g. 0:120,1:80"
        ) from None


def main(
    settings: WorkerSettings,
    *,
    since: str | None,
    offsets: str | None,
    swap: bool,
    drop_old: bool,
    dry_run: bool,
    drop_missing: bool = False,
    fresh: bool,
    as_json: bool,
) -> int:
    """Run the whole replay; print one summary (JSON with ``--json``) on stdout."""
    when = iso_time(since, "--since") if since else None
    start = parse_offsets(offsets)
    if not dry_run:  # the progress bar; --dry-run prints only the plan
        require_rich("tooltrail replay memory")
    # chromadb and the embedders load only once the command line is known to be good
    from tooltrail.consumers import replay, replay_diff

    state = asyncio.run(replay.plan(settings, when, start, fresh))
    summary: dict[str, object] = {
        "targets": state.targets,
        "start": state.start,
        "end": state.end,
        "to_read": state.total - state.done,
    }
    if dry_run:
        summary["dry_run"] = True
        ids, hashes = asyncio.run(replay_diff.preview(settings, state))
        summary["compare"] = replay_diff.compare(
            settings, ids, hashes, replay_diff.planned_at_ms(state)
        ).as_dict()
        print(orjson.dumps(summary, option=_JSON).decode())
        return 0
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    started = time.monotonic()
    with Progress(
        TextColumn("replay memory"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} ev/s"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("replay", total=state.total, rate="0")

        def progress(done: int, total: int) -> None:
            bar.update(
                task, completed=done, total=total, rate=f"{replay.elapsed_rate(started, done):.0f}"
            )

        asyncio.run(replay.run(settings, state, progress))
    if swap:  # before anything else: a rebuild that lacks live memories is never swapped in
        diff = replay_diff.compare(
            settings, state.memory_ids, state.event_hashes, replay_diff.planned_at_ms(state)
        )
        summary["compare"] = diff.as_dict()
        if diff.lacks and not drop_missing:
            raise UsageError(
                f"refusing to swap: the rebuild lacks {diff.lacks} of {diff.live} live memories "
                "(their events are no longer on the topic); the rebuild is kept, re-run with "
                "--drop-missing to swap and drop them"
            )
    check = replay.verify(settings, state)
    summary.update(verify=check, skipped_invalid=state.skipped)
    if not check["ok"]:
        summary["error"] = "verification failed: not swapped; re-run to resume or --fresh"
    elif swap:
        summary["swapped"] = replay.swap(settings, state, drop_old)
        console.print("swapped; catching up with live writes")
        summary["caught_up"] = asyncio.run(replay.catch_up(settings, state, lambda d, t: None))
    if as_json:
        print(orjson.dumps(summary, option=_JSON).decode())
    else:
        print(
            f"replayed {state.done} events into {sorted(set(state.targets.values()))}: "
            f"{check['count']} memories (expected {check['expected']}), "
            f"sample {check['sample_found']}/{check['sampled']} found"
        )
        for action in summary.get("swapped", []):  # type: ignore[attr-defined]
            print(f"  {action}")
    return 0 if check["ok"] else 1


def register(commands: Any) -> None:
    """``tooltrail replay memory``."""
    parser = add(commands, "replay", "rebuild vector memories from the events topic")
    replay_cmd = subcommands(parser, "target")
    p = add(
        replay_cmd,
        "memory",
        "rebuild the memory collections from the events topic",
        "Read the events topic (no consumer group: live groups are untouched) into new "
        "<collection>__rebuild_<stamp> collections, with progress on stderr; resumable; "
        "verified; --swap makes the rebuild live.",
    )
    start = p.add_mutually_exclusive_group()
    start.add_argument("--since", help="ISO 8601 time with zone: events appended after it")
    start.add_argument("--offsets", help="PARTITION:OFFSET[,…] to start from")
    p.add_argument("--swap", action="store_true", help="after verifying, make the rebuild live")
    p.add_argument("--drop-old", action="store_true", help="with --swap: delete the old ones")
    p.add_argument(
        "--drop-missing",
        action="store_true",
        help="with --swap: swap even if live memories the rebuild lacks are dropped",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and live vs rebuild counts"
    )
    p.add_argument("--fresh", action="store_true", help="ignore an interrupted replay's progress")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(
        handler=lambda a: main(
            worker_settings(),
            since=a.since,
            offsets=a.offsets,
            swap=a.swap,
            drop_old=a.drop_old,
            dry_run=a.dry_run,
            drop_missing=a.drop_missing,
            fresh=a.fresh,
            as_json=a.json,
        )
    )
