"""``tooltrail stats``, ``tooltrail dlq …`` and ``tooltrail metrics export``."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson

from tooltrail.consumers.app.commands import (
    add,
    iso_time,
    positive_int,
    subcommands,
    worker_settings,
)
from tooltrail.consumers.errors import UsageError
from tooltrail.consumers.kafka.dlq import original_headers, read_dead_letter
from tooltrail.consumers.kafka.offsets import gather_stats
from tooltrail.consumers.kafka.topic_reader import fetch, parse_ref, stream
from tooltrail.consumers.observability.status import read_status
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.metrics_export import export
from tooltrail.schemas.aio import stop_kafka
from tooltrail.schemas.kafka.clients import kafka_producer

_JSON = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


def stats(settings: WorkerSettings, *, as_json: bool) -> int:
    """Print lag per group and partition, each group's members and last error, the DLQ size."""
    data = asyncio.run(_stats(settings))
    if as_json:
        print(orjson.dumps(data, option=_JSON).decode())
        return 0
    print(f"topic {data['topic']}")
    for group, info in data["groups"].items():
        print(f"  group {group}: lag {info['lag']}")
        for row in info["partitions"]:
            print(
                f"    p{row['partition']}: committed {row['committed']} "
                f"highwater {row['highwater']} lag {row['lag']}"
            )
        for member in info["members"]:
            print(
                f"    member {member['member']}: {member['state']} "
                f"(reported {member['ageS']:.0f}s ago)"
            )
        if info["lastError"]:
            error = info["lastError"]
            print(f"    last error ({error['ageS']:.0f}s ago, {error['member']}): {error['error']}")
    print(f"dead letters in {data['dlq']['topic']}: {data['dlq']['messages']}")
    return 0


async def _stats(settings: WorkerSettings) -> dict[str, Any]:
    groups = [settings.metrics_group, settings.memory_group, settings.enrich_group]
    kwargs, wait = settings.kafka_kwargs(), settings.kafka_timeout_s
    data = await gather_stats(kwargs, settings.events_topic, settings.dlq_topic, groups)
    status = await read_status(kwargs, settings.status_topic, wait)
    now = time.time()
    stale_after = 3 * settings.status_interval_s
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
    return data


def _num(record: dict[str, Any], key: str) -> float:
    value = record.get(key)
    return float(value) if isinstance(value, int | float) else 0.0


def dlq_list(settings: WorkerSettings, *, limit: int, as_json: bool) -> int:
    """Print the newest ``limit`` dead letters (memory bounded by ``limit``, not the topic)."""
    letters, total = asyncio.run(_newest(settings, limit))
    if as_json:
        rows = [
            {
                "partition": p,
                "offset": o,
                **d.model_dump(mode="json", by_alias=True, exclude={"value_b64"}),
            }
            for p, o, d in letters
        ]
        print(orjson.dumps(rows, option=_JSON).decode())
        return 0
    for p, o, d in letters:
        print(
            f"{p}:{o}  {d.group}  {d.source_topic}[{d.source_partition}]@{d.source_offset}  "
            f"{d.size} B  {d.error}"
        )
    print(f"{len(letters)} of {total} dead letter(s)")
    return 0


async def _newest(settings: WorkerSettings, limit: int) -> tuple[list[Any], int]:
    newest: deque[Any] = deque(maxlen=max(limit, 0))
    total = 0
    async for batch in stream(
        settings.kafka_kwargs(), settings.dlq_topic, wait_s=settings.kafka_timeout_s
    ):
        total += len(batch)
        for record in batch:
            newest.append(
                (record.partition, record.offset, read_dead_letter(record, with_value=False))
            )
    return sorted(newest, key=lambda x: x[2].failed_at), total


def dlq_show(settings: WorkerSettings, ref: str) -> int:
    """Print one dead letter (``partition:offset``) in full, value included."""
    partition, offset = parse_ref(ref)
    record = asyncio.run(
        fetch(
            settings.kafka_kwargs(), settings.dlq_topic, partition, offset, settings.kafka_timeout_s
        )
    )
    if record is None:
        raise UsageError(f"no dead letter at {ref} in {settings.dlq_topic}")
    letter = read_dead_letter(record).model_dump(mode="json", by_alias=True)
    letter["value"] = base64.b64decode(letter.pop("valueB64")).decode(errors="replace")
    print(orjson.dumps(letter, option=_JSON).decode())
    return 0


def dlq_replay(settings: WorkerSettings, refs: list[str], *, dry_run: bool) -> int:
    """Re-publish the selected dead letters (or ``all``) to the events topic, as they were."""
    if not refs:
        raise UsageError("dlq replay needs PARTITION:OFFSET references or 'all'")
    wanted = None if refs == ["all"] else [parse_ref(r) for r in refs]
    sent, skipped = asyncio.run(_replay(settings, wanted, dry_run))
    verb = "would re-publish" if dry_run else "re-published"
    note = f"; {skipped} skipped: cut to fit the dead-letter topic" if skipped else ""
    print(f"{verb} {sent} dead letter(s) to {settings.events_topic}{note}")
    return 0


async def _replay(
    settings: WorkerSettings, wanted: list[tuple[int, int]] | None, dry_run: bool
) -> tuple[int, int]:
    kwargs, wait = settings.kafka_kwargs(), settings.kafka_timeout_s
    producer = None
    if not dry_run:
        producer = kafka_producer(
            kwargs, acks="all", enable_idempotence=False, request_timeout_ms=int(wait * 1000)
        )
    sent = skipped = 0
    try:
        if producer is not None:
            await asyncio.wait_for(producer.start(), wait)
        async for batch in _chosen(settings, wanted):
            for record in batch:
                if read_dead_letter(record, with_value=False).truncated:
                    skipped += 1
                    continue
                if producer is not None:
                    await asyncio.wait_for(
                        producer.send(
                            settings.events_topic,
                            record.value,
                            key=record.key,
                            headers=original_headers(record),
                        ),
                        wait,
                    )
                sent += 1
        if producer is not None:
            await asyncio.wait_for(producer.flush(), wait)
    finally:
        if producer is not None:  # also after a start that failed: it may hold connections
            await asyncio.wait_for(stop_kafka(producer), wait)
    return sent, skipped


async def _chosen(settings: WorkerSettings, wanted: list[tuple[int, int]] | None) -> Any:
    kwargs, topic, wait = settings.kafka_kwargs(), settings.dlq_topic, settings.kafka_timeout_s
    if wanted is None:
        async for batch in stream(kwargs, topic, wait_s=wait):
            yield batch
        return
    for partition, offset in wanted:
        record = await fetch(kwargs, topic, partition, offset, wait)
        if record is None:
            raise UsageError(f"no dead letter at {partition}:{offset} in {topic}")
        yield [record]


def metrics_export(
    settings: WorkerSettings, out: Path, since: str | None, until: str | None
) -> int:
    """Write the seed-compatible JSON array of metrics records atomically."""
    lo = iso_time(since, "--since") if since else None
    hi = iso_time(until, "--until") if until else None
    count = export(settings.metrics_dir, out, since=lo, until=hi)
    print(f"wrote {count} record(s) to {out}")
    return 0


def register(commands: Any) -> None:
    """``tooltrail stats``, ``dlq list|show|replay`` and ``metrics export``."""
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
    dlq = subcommands(add(commands, "dlq", "inspect and re-publish dead letters"), "action")
    p = add(dlq, "list", "the newest dead letters (streams the topic; memory bounded by --limit)")
    p.add_argument("--limit", type=positive_int, default=100, help="show the newest N")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=lambda a: dlq_list(worker_settings(), limit=a.limit, as_json=a.json))
    p = add(dlq, "show", "one dead letter in full, value included")
    p.add_argument("ref", metavar="PARTITION:OFFSET", help="which letter, e.g. 0:17")
    p.set_defaults(handler=lambda a: dlq_show(worker_settings(), a.ref))
    p = add(
        dlq,
        "replay",
        "re-publish dead letters to the events topic after a fix",
        "Re-publish the given dead letters (or all) to the events topic with their original "
        "key and headers; letters that were cut to fit are skipped.",
    )
    p.add_argument("refs", nargs="+", metavar="PARTITION:OFFSET|all", help="which letters")
    p.add_argument("--dry-run", action="store_true", help="only count")
    p.set_defaults(handler=lambda a: dlq_replay(worker_settings(), a.refs, dry_run=a.dry_run))
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
