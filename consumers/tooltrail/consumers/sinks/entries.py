"""What the enrich group publishes, beyond computing it: scoped and signed entries.

``scoped`` stamps an entry with the scope (environment, domain, tenant) of the event it was
computed for and drops any hit of another scope, whatever a query returned: a tool server
serves an entry only in its own scope. ``signed_headers`` adds the HMAC-SHA256 signature over
the record key and the value (``schemas.signing``) that tool servers verify (README "Trust
model").
"""

from __future__ import annotations

from tooltrail.schemas.events import ToolExecutionEvent
from tooltrail.schemas.headers import Header, entry_headers
from tooltrail.schemas.keys import Scope, event_scope
from tooltrail.schemas.records import EnrichmentEntry, EnrichmentHit
from tooltrail.schemas.signing import SIGNATURE_HEADER, signature


def hit_scope(hit: EnrichmentHit) -> Scope:
    """The scope a hit says it belongs to (defaults for a memory that did not say)."""
    default = Scope()
    return Scope(
        hit.environment or default.environment, hit.domain or default.domain, hit.tenant or ""
    )


def scoped(entry: EnrichmentEntry, event: ToolExecutionEvent) -> EnrichmentEntry:
    """``entry`` stamped with ``event``'s scope, holding only hits of that scope."""
    scope = event_scope(event.tags)
    return entry.model_copy(
        update={
            "hits": tuple(h for h in entry.hits if hit_scope(h) == scope),
            "environment": scope.environment,
            "domain": scope.domain,
            "tenant": scope.tenant,
        }
    )


def signed_headers(entry: EnrichmentEntry, value: bytes, key: bytes | None) -> list[Header]:
    """The entry's headers, plus its signature over record key and value when ``key`` is set."""
    headers = entry_headers(entry)
    if key is not None:
        headers.append((SIGNATURE_HEADER, signature(key, entry.key.encode(), value)))
    return headers
