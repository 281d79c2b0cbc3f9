"""``tooltrail stats`` and ``tooltrail metrics export``."""

from __future__ import annotations

import asyncio
import errno
import time
from pathlib import Path
from typing import Any

import orjson

from tooltrail.consumers.app.commands import (
    add,
    iso_time,
    subcommands,
    worker_settings,
)
from tooltrail.consumers.errors import ConsumerError, UsageError
from tooltrail.consumers.kafka.offsets import gather_stats
from tooltrail.consumers.observability.status import RESET_ADVICE, read_status
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.metrics_export import export

_JSON = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
#: What a user fixes by choosing another --out (exit 2); anything else (a full disk) is 1.
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.ENOENT, errno.EROFS, errno.ENOTDIR, errno.EISDIR}


def stats(settings: WorkerSettings, *, as_json: bool) -> int:
    """Print lag per group and partition, each group's members and last error, the DLQ size."""
    data = asyncio.run(_stats(settings))
    if as_json:
        print(orjson.dumps(data, option=_JSON).decode())
        return 0
    print(render(data))
    return 0


def render(data: dict[str, Any]) -> str:
    """The human form of ``stats``: one block per group, then the dead letters."""
    lines = [f"topic {data['topic']}"]
    for group, info in data["groups"].items():
        lines.append(f"  group {group}: lag {info['lag']}")
        for row in info["partitions"]:
            done = row["committed"]
            committed = "nothing committed yet" if done is None else f"committed {done}"
            high, lag = row["highwater"], row["lag"]
            lines.append(f"    p{row['partition']}: {committed}, highwater {high}, lag {lag}")
        for member in info["members"]:
            lines.append(
                f"    member {member['member']}: {member['state']} "
                f"(reported {member['ageS']:.0f}s ago)"
            )
        if info["lastError"]:
            error = info["lastError"]
            lines.append(
                f"    last error ({error['ageS']:.0f}s ago, {error['member']}): {error['error']}"
            )
        if reset := info.get("storeReset"):
            lines.append(
                f"    STORE WIPED OR RECREATED {reset['resets']} time(s), last at "
                f"{reset['lastAt'] or 'unknown'} ({reset['member']}): {reset['advice']}"
            )
    lines.append(f"dead letters in {data['dlq']['topic']}: {data['dlq']['messages']}")
    return "\n".join(lines)


async def _stats(settings: WorkerSettings) -> dict[str, Any]:
    groups = [settings.metrics_group, settings.memory_group, settings.enrich_group]
    kwargs, wait = settings.kafka_kwargs(), settings.kafka_timeout_s
    data = await gather_stats(kwargs, settings.events_topic, settings.dlq_topic, groups)
    status = await read_status(kwargs, settings.status_topic, wait)
    merge_status(data, status, time.time(), 3 * settings.status_interval_s)
    return data


def merge_status(
    data: dict[str, Any], status: dict[str, dict[str, Any]], now: float, stale_after: float
) -> None:
    """Add each group's live members, last error and store resets from the status records.

    A store reset is kept from every record of the group, stopped or stale ones too: the
    member that saw the wipe may be gone, the lost memories are not (issue 28).
    """
    for group, info in data["groups"].items():
        mine = [s for s in status.values() if s.get("group") == group]
        info["members"] = [
            {"member": s.get("member"), "state": s.get("state"), "ageS": now - _num(s, "updatedAt")}
            for s in mine
            if s.get("state") != "stopped" and now - _num(s, "updatedAt") < stale_after
        ]
        errors = sorted(
            (s for s in mine if s.get("lastError")), key=lambda s: _num(s, "lastErrorAt")
        )
        info["lastError"] = (
            {
                "error": errors[-1]["lastError"],
                "member": errors[-1].get("member"),
                "ageS": now - _num(errors[-1], "lastErrorAt"),
            }
            if errors
            else None
        )
        info["storeReset"] = _store_reset(mine)


def _store_reset(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The group's store resets (summed over its members), the newest, and what to do."""
    reset = [s for s in records if _num(s, "storeResets") > 0]
    if not reset:
        return None
    newest = max(reset, key=lambda s: str(s.get("storeResetAt") or ""))
    return {
        "resets": int(sum(_num(s, "storeResets") for s in reset)),
        "lastAt": newest.get("storeResetAt"),
        "member": newest.get("member"),
        "advice": RESET_ADVICE,
    }


def _num(record: dict[str, Any], key: str) -> float:
    value = record.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


def metrics_export(
    settings: WorkerSettings, out: Path, since: str | None, until: str | None
) -> int:
    """Write the seed-compatible JSON array of metrics records atomically."""
    lo = iso_time(since, "--since") if since else None
    hi = iso_time(until, "--until") if until else None
    target = export_target(out)
    try:
        count = export(settings.metrics_dir, target, since=lo, until=hi)
    except OSError as exc:  # name what the user typed, not the temporary file beside it
        if exc.filename and Path(exc.filename).parent == target.parent:
            where = f"--out {str(out)!r}: cannot write there ({exc.strerror or exc})"
            error = UsageError if exc.errno in _NOT_WRITABLE else ConsumerError
            raise error(where) from None
        raise
    print(f"wrote {count} record(s) to {target}")
    return 0


def export_target(out: Path) -> Path:
    """``--out`` as a file that can be written, or a ``UsageError`` naming what is wrong."""
    shown = str(out)
    if out.is_dir() or not out.name or out.name in (".", ".."):
        raise UsageError(f"--out {shown!r} is a directory: give a file, e.g. metrics.json")
    parent = out.parent
    if not parent.is_dir():
        raise UsageError(f"--out {shown!r}: the directory {str(parent)!r} does not exist")
    return out


def register(commands: Any) -> None:
    """``tooltrail stats`` and ``metrics export``."""
    p = add(
        commands,
        "stats",
        "lag per group and partition, members, last errors, dead letters",
        "Per group: committed offset, highwater and lag per partition (read from Kafka), "
        "live members and their state, and the last error (from the status topic); "
        "the number of dead letters.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=lambda a: stats(worker_settings(), as_json=a.json))
    metrics = subcommands(add(commands, "metrics", "metrics records"), "action")
    p = add(
        metrics,
        "export",
        "write the seed-compatible JSON array of metrics records",
        "Stream every metrics record (optionally of a time window) into one JSON array, "
        "written atomically (temporary file, fsync, rename).",
    )
    p.add_argument("--out", required=True, help="the JSON file to write")
    p.add_argument("--since", default=None, help="ISO 8601 time with zone, inclusive")
    p.add_argument("--until", default=None, help="ISO 8601 time with zone, exclusive")
    p.set_defaults(
        handler=lambda a: metrics_export(worker_settings(), Path(a.out), a.since, a.until)
    )
