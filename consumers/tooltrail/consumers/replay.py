"""Rebuild the vector memories from the events topic, without touching the live groups.

A group-less consumer (assigned partitions, no commits) reads from the beginning, from a
time, or from explicit offsets up to the high watermark seen at start, and upserts into new
collections ``<name>__rebuild_<stamp>``. Progress is saved after every batch in
``TOOLTRAIL_STATE_DIR``, so an interrupted replay resumes where it stopped. At the end the
new collections are verified (count equals the distinct memories read; a sample of ids is
retrievable). ``swap`` renames live → ``<name>__old_<stamp>`` and rebuilt → ``<name>``;
the old ones stay until ``drop_old``. Live memory groups follow the rename (they resolve
their collections by name before each write) and ``catch_up`` replays what they wrote
around the swap into the new live collections, so nothing written meanwhile is lost. A
worker that re-creates a live name between the two renames has its stray collection moved
aside as ``<name>__stray_<stamp>_<n>`` (dropped with ``drop_old``) before the rename is retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition

from tooltrail.consumers.errors import ConsumerError, RetriableSinkError, UsageError
from tooltrail.consumers.files import private_binary, private_dir, write_private
from tooltrail.consumers.kafka.offsets import group_members, partitions_of, true_end_offsets
from tooltrail.consumers.memory.chroma import close_client, open_chroma
from tooltrail.consumers.memory.embedders import make_embedder
from tooltrail.consumers.memory.situations import situation_of
from tooltrail.consumers.memory.store import collection_names
from tooltrail.consumers.runtime.delivery import Writer, decode_records
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.base import Delivered
from tooltrail.consumers.sinks.memory import MemorySink
from tooltrail.schemas.aio import settle, stop_kafka
from tooltrail.schemas.kafka.clients import kafka_consumer

Progress = Callable[[int, int], None]  # (events read so far, total to read)

log = logging.getLogger(__name__)


@dataclass
class ReplayState:
    """What a replay has done so far (persisted as JSON after every batch)."""

    stamp: str
    targets: dict[str, str]
    start: dict[int, int]
    end: dict[int, int]
    position: dict[int, int]
    skipped: int = 0  # events not written: undecodable, or rejected by the sink
    memory_ids: set[str] = field(default_factory=set)  # also appended to ``<state>.ids``
    #: Hashes of the event ids read (``event_hash``), also in ``<state>.ids`` as ``e:<hash>``:
    #: what a live per-call memory (written before situations) is matched by.
    event_hashes: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        """Events to read in all."""
        return sum(self.end[p] - self.start[p] for p in self.end)

    @property
    def done(self) -> int:
        """Events read so far."""
        return sum(self.position[p] - self.start[p] for p in self.end)


def event_hash(event_id: str) -> str:
    """A short, whitespace-free stand-in for an event id (kept per event read)."""
    return hashlib.blake2b(event_id.encode(), digest_size=10).hexdigest()


async def start_offsets(
    settings: WorkerSettings,
    parts: list[TopicPartition],
    ends: dict[int, int],
    since: datetime | None,
    offsets: dict[int, int] | None,
) -> dict[int, int]:
    """Where to begin per partition. A time in the future replays nothing (Tansu answers 0)."""
    if offsets is not None:
        unknown = set(offsets) - {tp.partition for tp in parts}
        if unknown:
            raise UsageError(f"--offsets names partitions that do not exist: {sorted(unknown)}")
        return {
            tp.partition: min(max(offsets.get(tp.partition, 0), 0), ends[tp.partition])
            for tp in parts
        }
    if since is None:
        return dict.fromkeys(ends, 0)
    if since > datetime.now(UTC):
        return dict(ends)  # guard: Tansu returns offset 0 (replay everything) for future times
    consumer = kafka_consumer(settings.kafka_kwargs(), group_id=None)
    try:
        await consumer.start()
        found = await consumer.offsets_for_times(
            {tp: int(since.timestamp() * 1000) for tp in parts}
        )
    finally:
        await settle(stop_kafka(consumer), settings.kafka_timeout_s)
    return {
        tp.partition: (ends[tp.partition] if found.get(tp) is None else found[tp].offset)
        for tp in parts
    }


def _state_path(settings: WorkerSettings) -> Path:
    return settings.state_dir / f"replay-memory-{settings.chroma_collection}.json"


def _ids_path(settings: WorkerSettings) -> Path:
    return _state_path(settings).with_suffix(".ids")


async def plan(
    settings: WorkerSettings, since: datetime | None, offsets: dict[int, int] | None, fresh: bool
) -> ReplayState:
    """Load the interrupted replay to resume, or plan a new one."""
    path = _state_path(settings)
    if path.exists() and not fresh:
        raw = orjson.loads(path.read_bytes())
        ids_file = _ids_path(settings)
        lines = set(ids_file.read_text().split()) if ids_file.exists() else set()
        ids = {i for i in lines if not i.startswith("e:")}
        hashes = {i[2:] for i in lines if i.startswith("e:")}
        return ReplayState(
            raw["stamp"],
            raw["targets"],
            _int_keys(raw["start"]),
            _int_keys(raw["end"]),
            _int_keys(raw["position"]),
            raw["skipped"],
            ids,
            hashes,
        )
    kwargs = settings.kafka_kwargs()
    parts = await partitions_of(kwargs, settings.events_topic)
    if not parts:
        raise ConsumerError(
            f"topic {settings.events_topic!r} does not exist on {settings.kafka_bootstrap}"
        )
    ends = {tp.partition: off for tp, off in (await true_end_offsets(kwargs, parts)).items()}
    start = await start_offsets(settings, parts, ends, since, offsets)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    targets = {
        kind: f"{name}__rebuild_{stamp}" for kind, name in collection_names(settings).items()
    }
    return ReplayState(stamp, targets, start, ends, dict(start))


def _int_keys(mapping: dict[str, int]) -> dict[int, int]:
    return {int(k): int(v) for k, v in mapping.items()}


def _save(settings: WorkerSettings, state: ReplayState, new_ids: list[str]) -> None:
    private_dir(settings.state_dir)
    if new_ids:  # ids first: a resumed replay may re-add some, never miss one
        with private_binary(_ids_path(settings), append=True) as f:
            f.write("".join(i + "\n" for i in new_ids).encode())
    path = _state_path(settings)
    tmp = path.with_suffix(".tmp")
    fields = {k: v for k, v in state.__dict__.items() if k not in ("memory_ids", "event_hashes")}
    write_private(tmp, orjson.dumps(fields, option=orjson.OPT_NON_STR_KEYS))
    tmp.replace(path)


async def run(
    settings: WorkerSettings, state: ReplayState, progress: Progress, *, save: bool = True
) -> None:
    """Read until the planned end, upserting into the target collections; resumable."""
    if all(state.position[p] >= state.end[p] for p in state.end):
        progress(state.done, state.total)  # nothing to read (aiokafka's stop fails unassigned)
        return
    sink = MemorySink(
        settings, make_embedder(settings.embedder, settings.embed_threads), state.targets
    )
    await sink.start()
    writer = Writer(sink, settings.sink_timeout_s)
    consumer = kafka_consumer(
        settings.kafka_kwargs(),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    try:
        await consumer.start()
        todo = [
            TopicPartition(settings.events_topic, p)
            for p in state.end
            if state.position[p] < state.end[p]
        ]
        consumer.assign(todo)
        for tp in todo:
            consumer.seek(tp, state.position[tp.partition])
        progress(state.done, state.total)
        while any(state.position[p] < state.end[p] for p in state.end):
            batch = await consumer.getmany(
                timeout_ms=500,
                max_records=min(settings.max_poll_records, settings.embed_batch_records),
            )
            records = [
                r for recs in batch.values() for r in recs if r.offset < state.end[r.partition]
            ]
            valid, _ = decode_records(records, settings.max_message_bytes)
            written = await _write(writer, valid, settings) if valid else []
            state.skipped += len(records) - len(written)  # undecodable, or rejected by the sink
            new_ids = []
            if written:
                for item in written:
                    memory = situation_of(item.event).id
                    if memory not in state.memory_ids:
                        state.memory_ids.add(memory)
                        new_ids.append(memory)
                    digest = event_hash(item.event.event_id)
                    if digest not in state.event_hashes:
                        state.event_hashes.add(digest)
                        new_ids.append("e:" + digest)
            for r in records:
                state.position[r.partition] = max(state.position[r.partition], r.offset + 1)
            for tp in list(consumer.assignment()):  # a partition past its end is done
                hw = consumer.highwater(tp)
                if hw is not None and hw <= state.position[tp.partition] < state.end[tp.partition]:
                    state.end[tp.partition] = state.position[tp.partition]
            if save:
                await asyncio.to_thread(_save, settings, state, new_ids)
            progress(state.done, state.total)
    finally:
        await settle(stop_kafka(consumer), settings.kafka_timeout_s)
        await sink.close()


async def _write(
    writer: Writer,
    items: list[Delivered],
    settings: WorkerSettings,
) -> list[Delivered]:
    """Write as a group does (``Writer``): what the sink rejects is isolated and skipped with a
    warning naming it, an outage is waited out with the groups' backoff. Returns what landed."""
    backoff = settings.write_backoff()
    running = asyncio.Event()  # never set: a replay is stopped by cancelling it (resumable)
    while True:
        try:
            rejected = await writer.write(items, running, lambda: 0.0) or []
        except (RetriableSinkError, OSError, TimeoutError) as exc:
            delay = backoff.next()
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "replay: write failed; retrying",
                extra={"error": error, "retry_in_s": round(delay, 2)},
            )
            await asyncio.sleep(delay)
            continue
        for item, why in rejected:
            log.warning(
                "replay: skipped an event the sink rejected",
                extra={"partition": item.partition, "offset": item.offset, "reason": why},
            )
        skip = {(d.partition, d.offset) for d, _ in rejected}
        return [d for d in items if (d.partition, d.offset) not in skip]


def verify(settings: WorkerSettings, state: ReplayState, sample: int = 20) -> dict[str, Any]:
    """Count and sample check of the rebuilt collections."""
    client = open_chroma(settings)
    try:
        counts = {name: client.get_collection(name).count() for name in set(state.targets.values())}
        picked = random.sample(sorted(state.memory_ids), min(sample, len(state.memory_ids)))
        found = 0
        for name in set(state.targets.values()):
            found += len(client.get_collection(name).get(ids=picked, include=[])["ids"])
        total, expected = sum(counts.values()), len(state.memory_ids)
        return {
            "collections": counts,
            "count": total,
            "expected": expected,
            "sampled": len(picked),
            "sample_found": found,
            "ok": total == expected and found == len(picked),
        }
    finally:
        close_client(client)


def swap(settings: WorkerSettings, state: ReplayState, drop_old: bool) -> list[str]:
    """Rename live → ``__old_<stamp>``, rebuilt → live; optionally delete the old ones."""
    client = open_chroma(settings)
    actions = []
    try:
        existing = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
        for live, rebuilt in sorted(
            set(zip(collection_names(settings).values(), state.targets.values(), strict=True))
        ):
            old = f"{live}__old_{state.stamp}"
            if live in existing:
                client.get_collection(live).modify(name=old)
                actions.append(f"{live} -> {old}")
            actions += _make_live(client, rebuilt, live, f"{live}__stray_{state.stamp}", drop_old)
            if drop_old and live in existing:
                client.delete_collection(old)
                actions.append(f"dropped {old}")
    finally:
        close_client(client)
    forget(settings)
    return actions


SWAP_ATTEMPTS = 10


def _make_live(client: Any, rebuilt: str, live: str, stray: str, drop_old: bool) -> list[str]:
    """Rename ``rebuilt`` to ``live``, moving aside a ``live`` a running worker re-created.

    A memory worker opens its collection by name (creating it when missing) right before
    each write; if it does so between the two renames of a swap, an almost empty ``live``
    exists again and Chroma refuses the second rename. What that worker wrote there is at
    offsets the rebuild holds or the catch-up pass writes again, so the stray collection is
    renamed aside (deleted with ``--drop-old``) and the rename retried.
    """
    actions: list[str] = []
    attempt = 0
    while True:
        attempt += 1
        try:
            client.get_collection(rebuilt).modify(name=live)
        except Exception as exc:
            if not _name_taken(exc) or attempt == SWAP_ATTEMPTS:
                raise
        else:
            return [*actions, f"{rebuilt} -> {live}"]
        aside = f"{stray}_{attempt}"
        try:
            client.get_collection(live).modify(name=aside)
        except Exception as exc:  # the worker's collection is gone again: just retry
            if not _name_taken(exc) and "does not exist" not in str(exc):
                raise
            continue
        actions.append(f"{live} (re-created by a running worker during the swap) -> {aside}")
        if drop_old:
            client.delete_collection(aside)
            actions.append(f"dropped {aside}")


def _name_taken(exc: Exception) -> bool:
    text = str(exc).lower()
    return "unique constraint" in text or "already exists" in text


async def catch_up(settings: WorkerSettings, state: ReplayState, progress: Progress) -> int:
    """After a swap, replay into the live collections what arrived since the rebuild's end.

    A live memory group resolves its collection by name right before each upsert; a write
    that resolved the old one just before the rename lands there and is committed. It ends
    within ``TOOLTRAIL_CHROMA_TIMEOUT_S``, so after that wait every such event is at an
    offset between the rebuild's end and the topic's end now: this pass writes them again
    (idempotent ids) into the collections that now have the live names. Returns the count.
    With no member in the memory group (``describe_consumer_groups``), no write can be in
    flight: no wait.
    """
    kwargs = settings.kafka_kwargs()
    members = await group_members(kwargs, settings.memory_group, settings.kafka_timeout_s)
    if members != 0:
        log.info("replay: waiting for memory writes in flight", extra={"members": members})
        await asyncio.sleep(settings.chroma_timeout_s + 1.0)
    parts = await partitions_of(kwargs, settings.events_topic, settings.kafka_timeout_s)
    ends = {tp.partition: end for tp, end in (await true_end_offsets(kwargs, parts)).items()}
    start = {p: min(state.end.get(p, 0), end) for p, end in ends.items()}
    tail = ReplayState(state.stamp, collection_names(settings), start, ends, dict(start))
    await run(settings, tail, progress, save=False)
    return tail.done


def forget(settings: WorkerSettings) -> None:
    """Delete the saved progress (after a swap, or to start over)."""
    _state_path(settings).unlink(missing_ok=True)
    _ids_path(settings).unlink(missing_ok=True)


def elapsed_rate(started: float, done: int) -> float:
    """Events per second since ``started``."""
    return done / max(time.monotonic() - started, 1e-9)
