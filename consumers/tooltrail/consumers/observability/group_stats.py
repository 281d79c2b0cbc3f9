"""Live figures of one consumer group member (served on ``/metrics``, ``/readyz``, status)."""

from __future__ import annotations

import bisect
import time
from collections import deque
from dataclasses import dataclass, field

#: Seconds from a call's end until its event is durably written (freshness).
#: Minutes are covered too: a group that falls behind shows how far (up to 10 minutes).
FRESHNESS_BUCKETS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    90.0, 120.0, 180.0, 240.0, 300.0, 450.0, 600.0,
)  # fmt: skip
#: Seconds one sink write takes.
WRITE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


@dataclass
class Histogram:
    """Counts of observations per upper bound (Prometheus histogram semantics)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        """Count one observation."""
        i = bisect.bisect_left(self.bounds, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        """``[(le, count of observations <= le), …, ("+Inf", count)]``."""
        out, running = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=True):
            running += n
            out.append((repr(bound), float(running)))
        return [*out, ("+Inf", float(self.count))]


@dataclass
class GroupStats:
    """What one member of a group has done, and whether it is stuck.

    Lag covers only the partitions this member owns now (``own``), so the lag summed over the
    members of a group is the group's lag. ``highwater`` comes from fetches and from the lag
    probe, which keeps reading it while the group is paused or a write hangs.
    """

    group: str
    sink: str = ""
    stuck_after_s: float = 120.0
    consumed: int = 0
    written: int = 0
    dead_lettered: int = 0
    rejected: int = 0  # valid events a sink could not take (dead-lettered by isolation)
    letters_lost: int = 0  # dead letters Kafka refused for good: their records were skipped
    retries: int = 0
    store_resets: int = 0  # the sink's store found wiped or recreated under this worker
    store_reset_at: str | None = None  # ISO time the last reset was detected
    last_error: str | None = None
    last_error_at: float | None = None  # wall-clock seconds
    retrying_since: float | None = None  # monotonic seconds, while a batch keeps failing
    committed: dict[int, int] = field(default_factory=dict)
    highwater: dict[int, int] = field(default_factory=dict)
    freshness_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    freshness: Histogram = field(default_factory=lambda: Histogram(FRESHNESS_BUCKETS))
    write_seconds: Histogram = field(default_factory=lambda: Histogram(WRITE_BUCKETS))
    started: float = field(default_factory=time.monotonic)
    connected: bool = False  # consumer connected and sink started
    last_poll: float = field(default_factory=time.monotonic)  # the loop's last turn

    @property
    def ready(self) -> bool:
        """Connected, and not stuck retrying one batch."""
        return self.connected and not self.stuck

    @property
    def retrying_for(self) -> float:
        """Seconds the current batch has been failing (0 when not retrying)."""
        return 0.0 if self.retrying_since is None else time.monotonic() - self.retrying_since

    @property
    def stuck(self) -> bool:
        """Retrying one batch for longer than ``stuck_after_s``."""
        return self.retrying_for > self.stuck_after_s

    def failed(self, error: str) -> None:
        """A write, a dead letter or a connection attempt failed and will be retried."""
        self.retries += 1
        self.last_error = error[:300]
        self.last_error_at = time.time()
        if self.retrying_since is None:
            self.retrying_since = time.monotonic()

    def recovered(self) -> None:
        """The batch went through: no longer retrying (the last error stays on record)."""
        self.retrying_since = None

    def own(self, partitions: set[int], committed: dict[int, int]) -> None:
        """After a rebalance: keep figures only for ``partitions``, with their commits."""
        self.committed = {p: off for p, off in committed.items() if p in partitions}
        self.highwater = {p: hw for p, hw in self.highwater.items() if p in partitions}

    def lag(self) -> dict[int, int]:
        """Per owned partition: highwater minus committed offset (never negative)."""
        return {p: max(hw - self.committed.get(p, 0), 0) for p, hw in self.highwater.items()}
