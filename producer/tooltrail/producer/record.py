"""``Record``: one finished event as the sender moves it: key, value bytes, headers, timestamp.

The adapter builds it on the thread that made the tool call (``event_bytes.build_record``);
``TrailProducer.emit`` puts it into the accumulator; the sender only batches these bytes into
Kafka or the outbox. Records resent from the outbox are rebuilt from their stored bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tooltrail.schemas.headers import Header


@dataclass(slots=True)
class Record:
    """One encoded event on its way: key, value, and whether it came from the outbox."""

    key: bytes | None
    value: bytes
    resent: bool = False
    ts: int | None = None  # record timestamp (ms): when the call ended; None = broker's time
    headers: list[Header] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Bytes of key, value and headers (what the Kafka request size limit counts)."""
        headers = sum(len(k) + len(v) for k, v in self.headers)
        return len(self.key or b"") + len(self.value) + headers
