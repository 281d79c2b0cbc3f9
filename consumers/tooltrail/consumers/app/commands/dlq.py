"""``tooltrail dlq list|show|replay``: inspect dead letters and re-publish them after a fix."""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from typing import Any

import orjson

from tooltrail.consumers.app.commands import add, positive_int, subcommands, worker_settings
from tooltrail.consumers.app.progress import progress
from tooltrail.consumers.errors import UsageError
from tooltrail.consumers.kafka.dlq import original_headers, read_dead_letter
from tooltrail.consumers.kafka.topic_reader import fetch, parse_ref, stream
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.aio import stop_kafka
from tooltrail.schemas.kafka.clients import kafka_producer

_JSON = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


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
    with progress("reading dead letters", "letters") as update:
        async for batch in stream(
            settings.kafka_kwargs(), settings.dlq_topic, wait_s=settings.kafka_timeout_s
        ):
            total += len(batch)
            update(total, None)
            for record in batch:
                newest.append(
                    (record.partition, record.offset, read_dead_letter(record, with_value=False))
                )
    return sorted(newest, key=lambda x: x[2].failed_at), total


def dlq_show(settings: WorkerSettings, ref: str, *, as_json: bool) -> int:
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
    if as_json:
        print(orjson.dumps(letter, option=_JSON).decode())
        return 0
    value = letter.pop("value")
    headers = letter.pop("headers", None)
    for name, field in letter.items():
        print(f"{name}: {field}")
    if headers:
        print("headers:")
        for header, text in dict(headers).items():
            print(f"  {header}: {text}")
    print("value:")
    print(value)
    return 0


def dlq_replay(settings: WorkerSettings, refs: list[str], *, dry_run: bool, as_json: bool) -> int:
    """Re-publish the selected dead letters (or ``all``) to the events topic, as they were."""
    if not refs:
        raise UsageError("dlq replay needs PARTITION:OFFSET references or 'all'")
    wanted = None if refs == ["all"] else [parse_ref(r) for r in refs]
    sent, skipped = asyncio.run(_replay(settings, wanted, dry_run))
    if as_json:
        result = {"topic": settings.events_topic, "dryRun": dry_run, "sent": sent}
        print(orjson.dumps({**result, "skippedCut": skipped}, option=_JSON).decode())
        return 0
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
        with progress("re-publishing dead letters", "letters") as update:
            async for batch in _chosen(settings, wanted):
                sent, skipped = await _republish(settings, producer, batch, sent, skipped)
                update(sent + skipped, len(wanted) if wanted is not None else None)
        if producer is not None:
            await asyncio.wait_for(producer.flush(), wait)
    finally:
        if producer is not None:  # also after a start that failed: it may hold connections
            await asyncio.wait_for(stop_kafka(producer), wait)
    return sent, skipped


async def _republish(
    settings: WorkerSettings, producer: Any, batch: list[Any], sent: int, skipped: int
) -> tuple[int, int]:
    """Send one batch of letters as they were (cut ones skipped); the new (sent, skipped)."""
    wait = settings.kafka_timeout_s
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


def register(commands: Any) -> None:
    """``tooltrail dlq list|show|replay``."""
    dlq = subcommands(add(commands, "dlq", "inspect and re-publish dead letters"), "action")
    p = add(dlq, "list", "the newest dead letters (streams the topic; memory bounded by --limit)")
    p.add_argument("--limit", type=positive_int, default=100, help="show the newest N")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=lambda a: dlq_list(worker_settings(), limit=a.limit, as_json=a.json))
    p = add(dlq, "show", "one dead letter in full, value included")
    p.add_argument("ref", metavar="PARTITION:OFFSET", help="which letter, e.g. 0:17")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=lambda a: dlq_show(worker_settings(), a.ref, as_json=a.json))
    p = add(
        dlq,
        "replay",
        "re-publish dead letters to the events topic after a fix",
        "Re-publish the given dead letters (or all) to the events topic with their original "
        "key and headers; letters that were cut to fit are skipped.",
    )
    p.add_argument("refs", nargs="+", metavar="PARTITION:OFFSET|all", help="which letters")
    p.add_argument("--dry-run", action="store_true", help="only count")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(
        handler=lambda a: dlq_replay(worker_settings(), a.refs, dry_run=a.dry_run, as_json=a.json)
    )
