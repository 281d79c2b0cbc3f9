"""``tooltrail stats``, ``tooltrail dlq …`` and ``tooltrail metrics export``."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from consumers.dlq import read_dead_letter
from consumers.offsets import gather_stats, partitions_of, true_end_offsets
from consumers.settings import WorkerSettings
from consumers.sinks.metrics_export import export


def stats(settings: WorkerSettings, *, as_json: bool) -> int:
    """Print committed offset, highwater and lag per group and partition, and the DLQ size."""
    groups = [settings.metrics_group, settings.memory_group, settings.enrich_group]
    data = asyncio.run(gather_stats(settings.kafka_kwargs(), settings.events_topic,
                                    settings.dlq_topic, groups))  # fmt: skip
    if as_json:
        print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"topic {data['topic']}")
    for group, info in data["groups"].items():
        print(f"  group {group}: lag {info['lag']}")
        for row in info["partitions"]:
            print(f"    p{row['partition']}: committed {row['committed']} "
                  f"highwater {row['highwater']} lag {row['lag']}")  # fmt: skip
    print(f"dead letters in {data['dlq']['topic']}: {data['dlq']['messages']}")
    return 0


async def _read_all(settings: WorkerSettings, topic: str) -> list[ConsumerRecord[Any, Any]]:
    kwargs = settings.kafka_kwargs()
    parts = await partitions_of(kwargs, topic)
    ends = await true_end_offsets(kwargs, parts)
    consumer = AIOKafkaConsumer(**kwargs, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=50)  # fmt: skip
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + 60
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                break
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def dlq_list(settings: WorkerSettings, *, limit: int, as_json: bool) -> int:
    """Print the dead letters (newest last)."""
    letters = [(r.partition, r.offset, read_dead_letter(r))
               for r in asyncio.run(_read_all(settings, settings.dlq_topic))][-limit:]  # fmt: skip
    if as_json:
        rows = [{"partition": p, "offset": o, **d.model_dump(mode="json", by_alias=True,
                 exclude={"value_b64"})} for p, o, d in letters]  # fmt: skip
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    for p, o, d in letters:
        print(f"{p}:{o}  {d.group}  {d.source_topic}[{d.source_partition}]@{d.source_offset}  "
              f"{d.size} B  {d.error}")  # fmt: skip
    print(f"{len(letters)} dead letter(s)")
    return 0


def dlq_show(settings: WorkerSettings, ref: str) -> int:
    """Print one dead letter (``partition:offset``) in full, value included."""
    partition, offset = (int(x) for x in ref.split(":", 1))
    for r in asyncio.run(_read_all(settings, settings.dlq_topic)):
        if (r.partition, r.offset) == (partition, offset):
            letter = read_dead_letter(r).model_dump(mode="json", by_alias=True)
            letter["value"] = base64.b64decode(letter.pop("valueB64")).decode(errors="replace")
            print(orjson.dumps(letter, option=orjson.OPT_INDENT_2).decode())
            return 0
    print(f"no dead letter at {ref}")
    return 1


def dlq_replay(settings: WorkerSettings, refs: list[str], *, dry_run: bool) -> int:
    """Re-publish the selected dead letters (or ``all``) to the events topic, unchanged."""
    return asyncio.run(_replay(settings, refs, dry_run))


async def _replay(settings: WorkerSettings, refs: list[str], dry_run: bool) -> int:
    wanted = None if refs == ["all"] else {tuple(int(x) for x in r.split(":", 1)) for r in refs}
    chosen = [r for r in await _read_all(settings, settings.dlq_topic)
              if wanted is None or (r.partition, r.offset) in wanted]  # fmt: skip
    if dry_run:
        print(f"would re-publish {len(chosen)} dead letter(s) to {settings.events_topic}")
        return 0
    producer = AIOKafkaProducer(**settings.kafka_kwargs(), acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for r in chosen:
            await producer.send_and_wait(settings.events_topic, r.value, key=r.key)
    finally:
        await producer.stop()
    print(f"re-published {len(chosen)} dead letter(s) to {settings.events_topic}")
    return 0


def metrics_export(
    settings: WorkerSettings, out: Path, since: str | None, until: str | None
) -> int:
    """Write the seed-compatible JSON array of metrics records atomically."""
    lo = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
    hi = datetime.fromisoformat(until.replace("Z", "+00:00")) if until else None
    count = export(settings.metrics_dir, out, since=lo, until=hi)
    print(f"wrote {count} record(s) to {out}")
    return 0
