"""Settings of the producer embedded in a tool server (``TOOLTRAIL_*``, seed flag aliases)."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from tooltrail.schemas.config import CsvList, KafkaSettings, env_alias
from tooltrail.schemas.redact import RedactionLimits

#: The memory tools (``memory_tools``): never recorded, their results are memories already.
MEMORY_TOOLS = frozenset({"memory_search", "memory_get_stats"})


def default_outbox_dir() -> Path:
    """``$XDG_STATE_HOME/tooltrail/outbox``, else ``~/.local/state/tooltrail/outbox``: absolute
    and per user, never relative to whatever directory a tool server was started in."""
    state = os.environ.get("XDG_STATE_HOME", "")
    if state and Path(state).is_absolute():
        return Path(state) / "tooltrail" / "outbox"
    try:
        return Path.home() / ".local" / "state" / "tooltrail" / "outbox"
    except RuntimeError:  # no home directory: a per-user one under the temp directory
        return Path(tempfile.gettempdir()) / f"tooltrail-{os.geteuid()}" / "outbox"


class ProducerSettings(KafkaSettings):
    """Everything the in-process producer and the MCP adapters read."""

    enable_instrumentation: bool = Field(
        True, validation_alias=env_alias("enable_instrumentation", "ENABLE_INSTRUMENTATION")
    )
    """Kill switch: `false` records nothing (tools still run)."""
    instrument_allowlist: CsvList = Field(
        (), validation_alias=env_alias("instrument_allowlist", "INSTRUMENT_ALLOWLIST")
    )
    """Comma-separated tool ids to record; empty records every tool."""
    enable_presearch: bool = Field(
        True, validation_alias=env_alias("enable_presearch", "ENABLE_PRESEARCH")
    )
    """Look up related memories in the local cache before each call."""
    enrichment_max_entries: int = Field(50_000, ge=1, le=10_000_000)
    """Most cache keys the tool server keeps in memory (least recently used are evicted)."""
    enrichment_max_bytes: int = Field(32 * 1024 * 1024, ge=64 * 1024, le=64 * 1024**3)
    """Most heap bytes the pre-search cache holds (least recently used keys are evicted first;
    both this and `TOOLTRAIL_ENRICHMENT_MAX_ENTRIES` hold)."""
    enrichment_hits: Literal["excerpt", "structured"] = "excerpt"
    """What tools are handed of a hit: `excerpt` (structured fields plus a sanitized excerpt
    of its salient line) or `structured` (tool, outcome, counts, times, kind, severity only)."""
    enrichment_ttl_s: float = Field(3_600.0, gt=0)
    """Cache entries older than this count as misses."""
    presearch_attach_meta: bool = False
    """Also attach the pre-search hits to the MCP result's `_meta` (`tooltrail/presearch`)."""
    strict_stdio_logs: bool = Field(
        True, validation_alias=env_alias("strict_stdio_logs", "STRICT_STDIO_LOGS")
    )
    """At start, move every log handler writing to stdout to stderr (stdio servers own stdout)."""
    mcp_log_verbose: bool = Field(
        False, validation_alias=env_alias("mcp_log_verbose", "MCP_LOG_VERBOSE")
    )
    """The seed's verbose-log flag; only copied into each event's `flags` (`MCP_LOG_VERBOSE`)."""
    server_name: str = "tool-server"
    """Name of the tool server, stored with each event."""
    server_host: str = Field(default_factory=socket.gethostname)
    """Host of the tool server (default: the machine's hostname)."""
    environment: str = Field("default", min_length=1, max_length=64)
    """Environment tag of events (e.g. `prod`, `staging`)."""
    domain: str = Field("general", min_length=1, max_length=64)
    """Domain tag of events (e.g. `openshift`)."""

    queue_size: int = Field(10_000, ge=1, le=10_000_000)
    """Finished records held in memory for the sender; past it a call is dropped and counted
    (`queue_full`)."""
    batch_size: int = Field(500, ge=1, le=100_000)
    """Most records the sender takes and sends at once; this many waiting records wake it before
    the linger ends."""
    linger_ms: int = Field(200, ge=0, le=60_000)
    """How often the sender takes the records that arrived while calls flow (a call after a quiet
    spell wakes it, and it takes the records one linger later; a full batch of waiting records
    wake it at once). Each wake-up costs a busy tool server CPU (README): smaller is fresher,
    larger is cheaper."""
    sender_slice_us: int = Field(500, ge=0, le=1_000_000)
    """Longest stretch the sender works through a resend batch (outbox records, parsed for their
    headers) without pausing, so that a busy tool-server thread waiting for the GIL gets it within
    about this long instead of CPython's 5 ms switch interval (README). Live batches of finished
    records are not paced. 0 = never pause. No pause while the queue is over a quarter full."""
    sender_gil_wait_us: int = Field(100, ge=0, le=5_000)
    """While the sender waits (for a linger, a broker's answer, a write), the process's switch
    interval is this many microseconds instead of the application's own, so that the sender
    takes the GIL back after that long instead of being woken at every release of a busy tool
    server's thread (README). Restored as soon as the sender runs. 0 = leave it alone."""
    sender_pause_us: int = Field(300, ge=1, le=100_000)
    """How long the sender sleeps after each `TOOLTRAIL_SENDER_SLICE_US` of work."""
    max_in_flight: int = Field(20_000, ge=1, le=1_000_000)
    """Most events sent and not yet acknowledged (~1 KB each); past it new calls wait while Kafka
    answers and the queue is under half full, else their batches go to the outbox."""
    ack_confirm_interval_ms: int = Field(200, ge=10, le=60_000)
    """How often acknowledgements are checked against the topic's id before counting as sent."""
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    """Kafka compression: `none`, `gzip`, `snappy`, `lz4` or `zstd`."""
    acks: Literal["0", "1", "all"] = "all"
    """Kafka acks: `0`, `1` or `all`."""
    enable_idempotence: bool = False
    """Idempotent producer (real Kafka only: Tansu rejects it)."""
    request_timeout_ms: int = Field(5_000, ge=100, le=300_000)
    """Kafka request timeout; the broker counts as down after it."""
    max_request_size: int = Field(1_048_576, ge=1024)
    """Largest Kafka request in bytes."""
    send_timeout_s: float = Field(2.0, gt=0, le=600)
    """Longest an event waits in memory for Kafka's acknowledgement before going to the outbox,
    counted on the sender's own clock: time its loop could not run (the GIL held by another
    thread) does not count."""
    reconnect_backoff_max_s: float = Field(10.0, gt=0, le=600)
    """Longest pause between reconnect attempts while the broker is down."""

    outbox_dir: Path = Field(
        default_factory=default_outbox_dir,
        json_schema_extra={"shown": "$XDG_STATE_HOME/tooltrail/outbox or ~/.local/state/…"},
    )
    """Directory of the on-disk outbox: must be owned by the user and writable by nobody else
    (else spilled events stay in memory); created 0700, files 0600. Each process locks it, or
    a `proc-*` subdirectory of its own when another live process holds it."""
    outbox_max_bytes: int = Field(64 * 1024 * 1024, ge=4096)
    """Outbox size bound; past it, or when the disk is full, the oldest events are dropped and
    counted (`outbox_full`, `disk_full`) so that the newest are kept."""
    outbox_segment_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    """Size of one outbox segment file."""
    outbox_adopt_interval_s: float = Field(5.0, ge=0.1, le=3600)
    """How often a producer looks for outbox directories of dead processes to adopt."""
    outbox_fsync_interval_ms: int = Field(200, ge=0, le=60_000)
    """Outbox fsync batching interval (0 = fsync every write)."""
    overflow_warn_interval_s: float = Field(60.0, ge=0)
    """At most one overflow/drop warning per interval."""
    shutdown_timeout_s: float = Field(5.0, ge=0, le=600)
    """Deadline to flush at shutdown; the rest stays in the outbox."""

    redact_max_depth: int = Field(6, ge=1, le=64)
    """Deepest nesting of arguments kept (deeper becomes a marker)."""
    redact_max_items: int = Field(50, ge=1, le=10_000)
    """Most items kept per list or mapping in arguments."""
    redact_max_string: int = Field(1024, ge=16, le=1_048_576)
    """Longest string kept in arguments (characters)."""
    redact_max_scan_chars: int = Field(262_144, ge=1024, le=16_777_216)
    """Characters redaction may scan per event or log record; the rest is masked and counted."""
    redact_max_cpu_ms: float = Field(10.0, gt=0, le=10_000)
    """CPU time redaction may spend per event or log record; the rest is masked and counted."""

    @model_validator(mode="after")
    def _outbox_fits_segments(self) -> ProducerSettings:
        if self.outbox_segment_bytes > self.outbox_max_bytes:
            raise ValueError(
                "TOOLTRAIL_OUTBOX_SEGMENT_BYTES must not exceed TOOLTRAIL_OUTBOX_MAX_BYTES "
                f"({self.outbox_segment_bytes} > {self.outbox_max_bytes})"
            )
        return self

    @property
    def redaction_limits(self) -> RedactionLimits:
        """The redaction bounds these settings describe."""
        return RedactionLimits(
            max_depth=self.redact_max_depth,
            max_items=self.redact_max_items,
            max_string=self.redact_max_string,
            max_scan_chars=self.redact_max_scan_chars,
            max_cpu_ms=self.redact_max_cpu_ms,
        )

    def instruments(self, tool_id: str) -> bool:
        """True if calls of ``tool_id`` are recorded (kill switch, allowlist; never the memory
        tools: a memory of a memory search would feed memory back into itself)."""
        if not self.enable_instrumentation or tool_id in MEMORY_TOOLS:
            return False
        return not self.instrument_allowlist or tool_id in self.instrument_allowlist
