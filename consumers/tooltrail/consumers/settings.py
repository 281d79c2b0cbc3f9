"""Settings of the workers (consumer groups), ``TOOLTRAIL_*`` with the seed's flag aliases."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from tooltrail.schemas.backoff import Backoff
from tooltrail.schemas.bounds import DEFAULT_LIMITS, DecodeLimits
from tooltrail.schemas.config import KafkaSettings, env_alias
from tooltrail.schemas.vectors.settings import ChromaSettings


class WorkerSettings(KafkaSettings, ChromaSettings):
    """Consumer-group, sink and Chroma settings shared by every worker."""

    metrics_group: str = "tooltrail-metrics"
    """Consumer group id of the metrics writer."""
    memory_group: str = "tooltrail-memory"
    """Consumer group id of the vector memory writer."""
    enrich_group: str = "tooltrail-enrich"
    """Consumer group id of the enrichment writer."""
    topic_partitions: int = Field(6, ge=1, le=10_000)
    """Partitions of topics created at start (= most consumers per group)."""
    topic_replication: int = Field(1, ge=1, le=16)
    """Replication factor of topics created at start."""
    session_timeout_ms: int = Field(6_000, ge=1_000, le=300_000)
    """Consumer session timeout (Tansu joins wait half of it)."""
    heartbeat_interval_ms: int = Field(1_000, ge=100, le=60_000)
    """Consumer heartbeat interval (at most a third of the session)."""
    fetch_max_wait_ms: int = Field(50, ge=1, le=10_000)
    """Fetch long-poll wait; keep low, Tansu never returns a fetch early."""
    max_poll_records: int = Field(2_000, ge=1, le=100_000)
    """Most records handed to the metrics sink per batch."""
    embed_batch_records: int = Field(64, ge=1, le=100_000)
    """Most records the memory and enrich groups embed per batch (small: fresh, quick to stop)."""
    max_message_bytes: int = Field(1_048_576, ge=1024, le=104_857_600)
    """Larger messages go to the dead-letter topic."""
    max_message_depth: int = Field(DEFAULT_LIMITS.max_depth, ge=8, le=200)
    """Deeper messages go to the dead-letter topic (the message object is level 1)."""
    max_message_values: int = Field(DEFAULT_LIMITS.max_nodes, ge=100, le=10_000_000)
    """Messages holding more JSON values (keys not counted) go to the dead-letter topic."""
    max_message_items: int = Field(DEFAULT_LIMITS.max_items, ge=100, le=10_000_000)
    """Messages with a longer array or object go to the dead-letter topic."""
    max_message_string_bytes: int = Field(DEFAULT_LIMITS.max_string_bytes, ge=1024, le=104_857_600)
    """Messages with a longer string (bytes as written) go to the dead-letter topic."""
    retry_backoff_initial_s: float = Field(0.5, gt=0, le=60)
    """First pause after a sink failure (doubles, with jitter)."""
    retry_backoff_max_s: float = Field(30.0, gt=0, le=3_600)
    """Longest pause between sink retries."""
    dlq_max_bytes: int = Field(1_000_000, ge=4_096, le=100_000_000)
    """Largest dead letter (key + value + headers); bigger originals are cut to fit."""
    kafka_timeout_s: float = Field(15.0, gt=0, le=600)
    """Bound on every Kafka call a worker waits for (connect, commit, dead letters, topics)."""
    connect_backoff_max_s: float = Field(10.0, gt=0, le=600)
    """Longest pause between attempts to reach Kafka while it is unreachable."""
    sink_timeout_s: float = Field(120.0, gt=0, le=3_600)
    """Bound on one sink write; past it the write counts as failed and is retried."""
    chroma_timeout_s: float = Field(30.0, gt=0, le=600)
    """HTTP timeout of every call to the Chroma server."""
    stuck_after_s: float = Field(120.0, gt=0, le=86_400)
    """A group retrying one batch for longer is reported stuck (`/readyz` 503)."""
    shutdown_grace_s: float = Field(25.0, gt=0, le=3_600)
    """SIGTERM to exit, whatever a group is waiting on (keep under the orchestrator's grace)."""
    lag_interval_s: float = Field(5.0, gt=0, le=600)
    """How often each group re-reads the end of its partitions (lag stays true while paused)."""
    status_interval_s: float = Field(30.0, gt=0, le=3_600)
    """How often each group reports its state to the status topic (and on every change)."""
    warning_interval_s: float = Field(60.0, gt=0, le=86_400)
    """A repeated warning (sink down, Kafka away, poison) is logged once per interval, counted."""
    max_batch_bytes: int = Field(64 * 1024 * 1024, ge=1_048_576, le=4 * 1024**3)
    """Most record bytes decoded per batch; a compressed Kafka batch inflating past it is poison."""
    http_port: int | None = Field(None, ge=0, le=65_535)
    """Port of the worker's health and Prometheus endpoint (unset = off)."""
    http_host: str = Field(
        "127.0.0.1", pattern=r"^([0-9A-Fa-f:.]+|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$"
    )
    """Address the HTTP endpoint binds (the pod's address in Kubernetes, `0.0.0.0` in compose)."""
    health_stall_s: float = Field(300.0, ge=5, le=86_400)
    """`/healthz` fails when a group's loop has not turned for this long (liveness)."""

    state_dir: Path = Path("tooltrail-data/state")
    """Where resumable work (replays) keeps its progress."""
    metrics_dir: Path = Path("tooltrail-data/metrics")
    """Directory of the metrics JSON Lines segments."""
    metrics_segment_bytes: int = Field(64 * 1024 * 1024, ge=4096)
    """Size at which a metrics segment is rotated."""
    metrics_writer_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    """Name in this writer's metrics segments (default: the host name, i.e. the pod name)."""
    metrics_dedup_window: int = Field(500_000, ge=1_000, le=100_000_000)
    """How many recent records' event ids the metrics writer remembers (about 60 B each)."""

    chroma_path: Path | None = None
    """Embedded Chroma directory, used when no URL is set."""
    enable_vector_writes: bool = Field(
        True, validation_alias=env_alias("enable_vector_writes", "ENABLE_VECTOR_WRITES")
    )
    """`false` makes the memory writer skip Chroma (offsets still advance)."""
    enrich_k: int = Field(3, ge=1, le=10)
    """How many related memories an enrichment entry holds."""
    enrich_exclude_same_session: bool = False
    """Leave per-call memories (written before situations) of the calling session out."""
    enrich_include_own_situation: bool = False
    """Include the calling event's own situation among its hits (off: hits are other situations)."""
    memory_retention_days: float = Field(30.0, ge=0, le=36_500)
    """Situations not seen for this many days are deleted by the memory group (0 = keep all)."""
    memory_max_situations_per_scope: int = Field(50_000, ge=0, le=100_000_000)
    """Most situations kept per scope (environment, domain): oldest lastSeen go (0 = no cap)."""
    memory_dedup_window: int = Field(200_000, ge=0, le=10_000_000)
    """Event ids the memory writer remembers so a redelivery is not counted again (~100 B each)."""
    memory_sweep_interval_s: float = Field(300.0, ge=1, le=86_400)
    """How often the memory group sweeps retention and caps (bounded work per sweep)."""
    embed_cache_size: int = Field(4096, ge=0, le=1_000_000)
    """Vectors kept per process so groups sharing it embed each document once (0 = off)."""

    def decode_limits(self) -> DecodeLimits:
        """What one message may cost to decode (checked on its bytes, before parsing)."""
        return DecodeLimits(
            self.max_message_depth,
            self.max_message_values,
            self.max_message_items,
            self.max_message_string_bytes,
        )

    def write_backoff(self) -> Backoff:
        """The jittered backoff between retries of a write that failed for a transient reason
        (the group loop and replay). The maximum is never below the first delay, also for
        settings copied without validation."""
        initial = self.retry_backoff_initial_s
        return Backoff(initial, max(self.retry_backoff_max_s, initial), jitter=0.2)

    @property
    def chroma_configured(self) -> bool:
        """True if a Chroma URL or directory is set."""
        return self.chroma_url is not None or self.chroma_path is not None

    @model_validator(mode="after")
    def _timeouts_consistent(self) -> WorkerSettings:
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError(
                "TOOLTRAIL_HEARTBEAT_INTERVAL_MS must be at most a third of "
                f"TOOLTRAIL_SESSION_TIMEOUT_MS ({self.heartbeat_interval_ms} * 3 > "
                f"{self.session_timeout_ms})"
            )
        if self.retry_backoff_initial_s > self.retry_backoff_max_s:
            raise ValueError(
                "TOOLTRAIL_RETRY_BACKOFF_INITIAL_S exceeds TOOLTRAIL_RETRY_BACKOFF_MAX_S"
            )
        return self
