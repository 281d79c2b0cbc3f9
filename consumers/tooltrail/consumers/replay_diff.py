"""What a memory rebuild would lack against the live collections, before anything is swapped.

A rebuild holds what the events topic still holds. After retention on the topic, or a broker
that restarted with an empty topic, the live collections hold situations no replay can rebuild;
a swap would drop them. ``preview`` computes the rebuild's situation ids without writing
anything (``situation_of`` is pure and cheap: no embedding), ``compare`` lists the live
memories the rebuild lacks: a situation whose id it does not have, or a per-call memory
(written before situations) whose event it did not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition

from tooltrail.consumers.memory.chroma import close_client, open_chroma
from tooltrail.consumers.memory.situations import situation_of
from tooltrail.consumers.memory.store import collection_names
from tooltrail.consumers.replay import ReplayState, event_hash
from tooltrail.consumers.runtime.delivery import decode_records
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.kafka.clients import kafka_consumer

__all__ = ["Diff", "compare", "planned_at_ms", "preview"]
EXAMPLES = 5
#: Events end before they are appended (linger, an outbox): a minute of slack.
CATCH_UP_MARGIN_MS = 60_000
IDLE_POLLS = 10


@dataclass
class Diff:
    """Live against rebuild: counts, and what the rebuild lacks (with a few examples)."""

    live: int = 0
    rebuild: int = 0
    lacks: int = 0
    per_call_live: int = 0
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """For the JSON summary."""
        return {
            "live": self.live,
            "rebuild": self.rebuild,
            "rebuild_lacks": self.lacks,
            "per_call_live": self.per_call_live,
            "lacking_examples": self.examples,
        }


def _live(client: Any, names: set[str], page: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
    existing = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
    for name in sorted(names & existing):
        collection, offset = client.get_collection(name), 0
        while (got := collection.get(limit=page, offset=offset, include=["metadatas"]))["ids"]:
            yield from zip(got["ids"], (dict(m or {}) for m in got["metadatas"]), strict=True)
            offset += len(got["ids"])


def planned_at_ms(state: ReplayState) -> int:
    """When the replay was planned (its stamp), less ``CATCH_UP_MARGIN_MS``.

    A live memory seen since then may have occurrences past the rebuild's end, which the
    catch-up pass after a swap writes into the new live collection: not lacking.
    """
    at = datetime.strptime(state.stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return int(at.timestamp() * 1000) - CATCH_UP_MARGIN_MS


def compare(
    settings: WorkerSettings,
    situation_ids: set[str],
    event_hashes: set[str],
    caught_up_after_ms: int | None = None,
) -> Diff:
    """The live memories a rebuild of ``situation_ids`` (from ``event_hashes``) would lack.

    Memories last seen at or after ``caught_up_after_ms`` are left out (the catch-up writes
    them again after a swap).
    """
    diff = Diff(rebuild=len(situation_ids))
    client = open_chroma(settings)
    try:
        for item, meta in _live(client, set(collection_names(settings).values())):
            diff.live += 1
            if meta.get("schema") is None:
                diff.per_call_live += 1
                covered = event_hash(str(meta.get("eventId", ""))) in event_hashes
            else:
                covered = item in situation_ids
            recent = (
                caught_up_after_ms is not None and int(meta.get("ts", 0) or 0) >= caught_up_after_ms
            )
            if not covered and not recent:
                diff.lacks += 1
                if len(diff.examples) < EXAMPLES:
                    what = meta.get("signature") or meta.get("timestamp") or ""
                    diff.examples.append(f"{item} {meta.get('tool', '')} {what}"[:200])
    finally:
        close_client(client)
    return diff


async def preview(settings: WorkerSettings, state: ReplayState) -> tuple[set[str], set[str]]:
    """The situation ids and event hashes a replay of ``state`` would write (nothing written)."""
    ids: set[str] = set(state.memory_ids)
    hashes: set[str] = set(state.event_hashes)
    position = dict(state.position)
    todo = [p for p in state.end if position[p] < state.end[p]]
    if not todo:
        return ids, hashes
    consumer = kafka_consumer(settings.kafka_kwargs(), group_id=None, enable_auto_commit=False)
    try:
        await consumer.start()
        consumer.assign([TopicPartition(settings.events_topic, p) for p in todo])
        for p in todo:
            consumer.seek(TopicPartition(settings.events_topic, p), position[p])
        idle = 0
        while any(position[p] < state.end[p] for p in todo) and idle < IDLE_POLLS:
            batch = await consumer.getmany(timeout_ms=500, max_records=settings.max_poll_records)
            idle = 0 if batch else idle + 1  # a topic that shrank under us ends the preview
            records = [
                r for recs in batch.values() for r in recs if r.offset < state.end[r.partition]
            ]
            for r in records:
                position[r.partition] = max(position[r.partition], r.offset + 1)
            valid, _ = decode_records(records, settings.max_message_bytes)
            for item in valid:
                ids.add(situation_of(item.event).id)
                hashes.add(event_hash(item.event.event_id))
    finally:
        await settle(stop_kafka(consumer), settings.kafka_timeout_s)
    return ids, hashes
