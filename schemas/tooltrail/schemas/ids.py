"""Identifiers: time-ordered event ids (UUIDv7) and deterministic memory ids.

``new_event_id`` is called on the tool-call path, so it is a few microseconds at most.
``memory_id`` is a pure function of an event, so replays upsert rather than duplicate.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import threading
import time
import uuid
from datetime import UTC, datetime

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def new_event_id(at_ms: int | None = None) -> str:
    """Return a new UUIDv7 string (RFC 9562): 48-bit ms time, 12-bit counter, 62 random bits.

    ``at_ms`` stamps a past moment (the start of a call) instead of now. Ids from one
    process are strictly increasing, even within one millisecond or when ``at_ms`` lags.
    Thread-safe; never blocks beyond a short lock.
    """
    global _last_ms, _counter
    now = time.time_ns() // 1_000_000 if at_ms is None else at_ms
    with _lock:
        if now <= _last_ms:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _counter = 0
            now = _last_ms
        else:
            _last_ms = now
            _counter = 0
        counter = _counter
    value = (now << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | _random.getrandbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: The random bits of ids: seeded from the OS, re-seeded in a forked child (which would
#: otherwise repeat its parent's sequence). Uniqueness, not secrecy, is what ids need.
_random = random.Random(os.urandom(32))  # noqa: S311 - ids need uniqueness, not secrecy
os.register_at_fork(after_in_child=lambda: _random.seed(os.urandom(32)))


def event_id_time(event_id: str) -> datetime:
    """Return the creation time encoded in a UUIDv7 event id."""
    ms = uuid.UUID(event_id).int >> 80
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def short_hash(text: str, size: int = 10) -> str:
    """Return ``size`` hex characters of a stable BLAKE2b hash of ``text``."""
    return hashlib.blake2b(text.encode(), digest_size=(size + 1) // 2).hexdigest()[:size]


def safe_token(text: str, limit: int = 64) -> str:
    """Return ``text`` reduced to ``[A-Za-z0-9.-]`` (other runs become ``-``), at most ``limit``."""
    return _UNSAFE.sub("-", text).strip("-")[:limit] or "none"


def memory_id(kind: str, scope: str, ended_at: datetime, event_id: str) -> str:
    """Return the deterministic memory id ``<kind>_<scope>_<yyyymmddThhmmssfffZ>_<hash>``.

    ``scope`` is the incident id when there is one, else the session id. The hash is
    over the event id, so two events with the same scope and millisecond still differ.
    """
    stamp = (
        ended_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S") + f"{ended_at.microsecond // 1000:03d}Z"
    )
    return f"{safe_token(kind, 32)}_{safe_token(scope)}_{stamp}_{short_hash(event_id)}"


MEMORY_ID_PATTERN = re.compile(
    r"^[A-Za-z0-9.-]{1,32}_[A-Za-z0-9.-]{1,64}_\d{8}T\d{9}Z_[0-9a-f]{10}$"
)
