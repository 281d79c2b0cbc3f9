"""Counters of the producer, readable at any time from any thread."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ProducerStats:
    """A snapshot of the producer's counters.

    The accounting identity, at any quiet moment, at close and at exit: ``emitted`` +
    ``outbox_inherited`` (records found in the outbox at start or adopted from dead
    processes) = ``sent`` + ``resent`` + ``dropped`` (by reason) + ``queue_depth`` +
    ``in_flight`` (sent, not yet acknowledged and confirmed) + ``outbox_pending`` (whole on
    disk). ``spilled`` counts events written to the outbox; ``resent`` outbox
    records that later reached Kafka; ``late_acks`` those of them a timed-out send had
    delivered after all (not sent twice); ``unconfirmed_acks`` acknowledgements that could
    not be confirmed on the topic (the broker lost it) and were sent again;
    ``maybe_duplicated`` records sent again after a request whose outcome was unknown
    (timed out or lost its connection, resent by the outbox or retried by the client):
    without idempotence the topic may hold two copies, which the sinks deduplicate.
    """

    emitted: int
    sent: int
    spilled: int
    resent: int
    dropped: dict[str, int]
    queue_depth: int
    outbox_pending: int
    outbox_bytes: int
    connected: bool
    internal_errors: int
    restarts: int = 0
    outbox_usable: bool = True  # False: directory refused (kept in memory) or writes failing
    outbox_inherited: int = 0  # outbox records found at start or adopted from dead processes
    in_flight: int = 0
    late_acks: int = 0
    unconfirmed_acks: int = 0
    maybe_duplicated: int = 0
    enrichment_entries: int = 0  # keys in the pre-search cache
    enrichment_bytes: int = 0  # heap bytes they hold (bounded by TOOLTRAIL_ENRICHMENT_MAX_BYTES)
    #: enrichment records ignored, by reason: unsigned, forged, key_mismatch, foreign_scope,
    #: malformed (README "Trust model")
    enrichment_rejected: dict[str, int] = field(default_factory=dict)
    #: process-wide (``redact.budget_stats``): events and log records whose redaction budget
    #: ran out, and the values masked whole because of it (README "Redaction")
    redaction_over_budget: int = 0
    redaction_masked_over_budget: int = 0

    @property
    def dropped_total(self) -> int:
        """All drops, whatever the reason."""
        return sum(self.dropped.values())


class Counters:
    """Thread-safe counters behind ``ProducerStats`` (a lock, uncontended in practice)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        with self._lock:
            self.values[name] += amount

    def get(self, name: str) -> int:
        """Current value of counter ``name``."""
        with self._lock:
            return self.values[name]

    def dropped(self, also: dict[str, int] | None = None) -> dict[str, int]:
        """``{reason: count}`` of every drop, plus the counts of ``also`` (summed by reason)."""
        with self._lock:
            out = {
                k.removeprefix("dropped:"): v
                for k, v in self.values.items()
                if k.startswith("dropped:")
            }
        for reason, count in (also or {}).items():
            if count:
                out[reason] = out.get(reason, 0) + count
        return out
