"""Provenance of enrichment entries: an HMAC-SHA256 over the record key and the value.

Only the enrich group holds the key besides the tool servers, so an entry that verifies was
computed by it for exactly that record key: a writer of the topic without the key can neither
forge an entry nor move a real one to another key (the key is signed with the value, length
prefixed so no split of key and value bytes collides). The signature rides in the record header
``tooltrail-sig`` as ``v1=<64 hex>``; the value stays plain ``EnrichmentEntry`` JSON.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Literal

SIGNATURE_HEADER = "tooltrail-sig"
_VERSION = b"v1="
_DOMAIN = b"tooltrail.enrichment.v1\x00"  # a signature of this key is good for nothing else
#: Shortest shared key accepted (characters of the setting or the key file).
MIN_KEY_CHARS = 32

Verdict = Literal["ok", "unsigned", "forged"]


def signature(key: bytes, record_key: bytes, value: bytes) -> bytes:
    """The header value signing ``record_key`` + ``value`` with ``key``."""
    mac = hmac.new(key, _DOMAIN, hashlib.sha256)
    mac.update(len(record_key).to_bytes(4, "big"))
    mac.update(record_key)
    mac.update(value)
    return _VERSION + mac.hexdigest().encode()


def signature_of(headers: Iterable[tuple[str, bytes]] | None) -> bytes | None:
    """The signature header of a record, or None (a second one makes the record forged)."""
    found = [v for k, v in headers or () if k == SIGNATURE_HEADER]
    if len(found) != 1:
        return b"" if found else None
    return bytes(found[0]) if isinstance(found[0], bytes | bytearray) else b""


def verify(key: bytes, record_key: bytes, value: bytes, header: bytes | None) -> Verdict:
    """``ok`` if ``header`` signs this key and value with ``key``; in constant time."""
    if header is None:
        return "unsigned"
    expected = signature(key, record_key, value)
    return "ok" if hmac.compare_digest(expected, header) else "forged"
