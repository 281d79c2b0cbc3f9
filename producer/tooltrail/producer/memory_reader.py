"""``MemoryReader``: what the memory tools read from Chroma, blocking, one scope only.

A tool server reads the memories the workers wrote: it embeds the query with the workers'
embedder (the vector goes to Chroma, the text never does), asks every memory collection for
the nearest memories *of its own scope* (``environment`` and ``domain`` from its
``ProducerSettings``: a filter on the server, so another scope's memories never leave Chroma)
and turns them into hits: structured fields, one per situation, never two of one situation.
Situations (``schema`` = ``situation/1``) and the older per-call memories (no ``schema``:
a situation seen once) read alike. Every string is cleaned of control characters, redacted
again and cut: hits are data an attacker may have influenced, for an agent to weigh.

Every method blocks (``memory_tools`` runs them in a thread, under a deadline) and raises
``MemoryUnavailableError`` for anything that keeps an answer from being given.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tooltrail.producer.memory_settings import MemoryToolSettings
from tooltrail.producer.sanitize import excerpt, label
from tooltrail.schemas.base import first_line
from tooltrail.schemas.redact import redact_text

#: Most hits a search returns, and the most candidates it reads to find them distinct.
MAX_K = 10
_CANDIDATES_PER_HIT = 4
SALIENT_CHARS = 300
EXCERPT_CHARS = 300


class MemoryUnavailableError(Exception):
    """Memory cannot answer now (not configured, unreachable, slow, built otherwise)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose memories a tool server may read: its own environment and domain."""

    environment: str
    domain: str

    def where(self, tool: str | None = None) -> dict[str, Any]:
        """The Chroma filter of this scope (and of one tool)."""
        terms: list[dict[str, Any]] = [
            {"environment": self.environment},
            {"domain": self.domain},
        ]
        if tool is not None:
            terms.append({"tool": tool})
        return {"$and": terms}


def clean(text: object, limit: int) -> str:
    """Untrusted ``text`` as an agent may see it: redacted, then the inert bounded excerpt
    every hit handed to tools gets (``sanitize.excerpt``: no escapes, invisible characters,
    instruction-like framing or markup)."""
    shown, _ = excerpt(redact_text(str(text)[: limit * 4]), limit)
    return shown


def _flagged(text: str) -> bool:
    return excerpt(text[:2_000])[1]


def hit_of(document: str, meta: dict[str, Any], distance: float) -> dict[str, Any]:
    """One hit: a situation's fields, or an old per-call memory read as a situation of one."""
    lines = [line for line in (document or "").splitlines() if line.strip()]
    salient = meta.get("salient") if isinstance(meta.get("salient"), str) else None
    salient = salient or (lines[0] if lines else "")
    rest = "\n".join(lines[1:] if lines and lines[0].strip() == salient.strip() else lines)
    situation = meta.get("schema") == "situation/1"
    seen_last = meta.get("lastSeen") or meta.get("timestamp")
    hit: dict[str, Any] = {
        "tool": label(str(meta.get("tool", "")), 128),
        "kind": label(str(meta.get("kind", "")), 32),
        "outcome": label(str(meta.get("outcome", "")), 32),
        "severity": label(str(meta.get("severity", "")), 32),
        "salient": clean(salient, SALIENT_CHARS),
        "occurrences": _count(meta.get("occurrences")) if situation else 1,
        "sessions": _count(meta.get("sessions")) if situation else 1,
        "firstSeen": label(str(meta.get("firstSeen") or seen_last or ""), 40),
        "lastSeen": label(str(seen_last or ""), 40),
        "similarity": round(max(0.0, 1.0 - float(distance)), 3),
        "excerpt": clean(rest, EXCERPT_CHARS),
        "flagged": _flagged(salient) or _flagged(rest),  # instruction-like text filtered out
    }
    if isinstance(meta.get("incidentId"), str):
        hit["incidentId"] = label(meta["incidentId"], 128)
    return hit


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def distinct(hits: Iterable[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The first ``k`` of ``hits`` (nearest first), one per situation: per-call memories of
    one call repeated in other sessions (or a situation and its older per-call copies)
    collapse into the nearest. Lazy: a generator of hits is read only as far as needed."""
    seen: set[tuple[str, str, str]] = set()
    out: list[dict[str, Any]] = []
    for hit in hits:
        key = (hit["tool"], hit["outcome"], " ".join(hit["salient"].lower().split()))
        if key not in seen:
            seen.add(key)
            out.append(hit)
            if len(out) == k:
                break
    return out


class MemoryReader:
    """Chroma as the memory tools see it (see module docstring). Thread-safe: one lock."""

    def __init__(self, settings: MemoryToolSettings, scope: Scope) -> None:
        self.settings = settings
        self.scope = scope
        self._lock = threading.Lock()
        self._client: Any = None
        self._embedder: Any = None

    def search(self, query: str, tool: str | None, k: int) -> list[dict[str, Any]]:
        """The ``k`` nearest distinct situations of this scope (and tool) to ``query``."""
        with self._guard("search"):
            vector = self._embed(query)
            rows: list[tuple[float, str, dict[str, Any]]] = []
            for collection in self._collections():
                got = collection.query(
                    query_embeddings=[vector],
                    n_results=min(k, MAX_K) * _CANDIDATES_PER_HIT,
                    where=self.scope.where(tool),
                    include=["documents", "metadatas", "distances"],
                )
                for doc, meta, dist in zip(
                    got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True
                ):
                    rows.append((float(dist), doc or "", dict(meta or {})))
            rows.sort(key=lambda row: row[0])  # nearest first, over every collection
            return distinct((hit_of(doc, meta, dist) for dist, doc, meta in rows), k)

    def counts(self) -> dict[str, Any]:
        """Situations of this scope: how many (up to the scan bound), by kind, newest seen."""
        limit = self.settings.memory_tools_stats_scan
        with self._guard("stats"):
            kinds: Counter[str] = Counter()
            occurrences = 0
            newest = ""
            capped = False
            for collection in self._collections():
                got = collection.get(where=self.scope.where(), include=["metadatas"], limit=limit)
                capped = capped or len(got["ids"]) >= limit
                for meta in got["metadatas"] or []:
                    meta = dict(meta or {})
                    kinds[str(meta.get("kind", "?"))[:32]] += 1
                    occurrences += _count(meta.get("occurrences"))
                    newest = max(newest, str(meta.get("lastSeen") or meta.get("timestamp") or ""))
            return {
                "situations": sum(kinds.values()),
                "atLeast": capped,
                "byKind": dict(kinds),
                "occurrences": occurrences,
                "lastSeen": newest[:40] or None,
            }

    def close(self) -> None:
        """Close the Chroma client (the next call reconnects)."""
        with self._lock:
            self._forget()

    # --- internals -----------------------------------------------------------------------------
    def _guard(self, what: str) -> _Guard:
        return _Guard(self, what)

    def _forget(self) -> None:
        from tooltrail.schemas.vectors.chroma import close_client

        client, self._client = self._client, None
        if client is not None:
            close_client(client)

    def _embed(self, text: str) -> Any:
        if self._embedder is None:
            from tooltrail.schemas.vectors.embedders import make_embedder

            self._embedder = make_embedder(self.settings.embedder, self.settings.embed_threads)
        return self._embedder([text])[0]

    def _collections(self) -> list[Any]:
        from chromadb.errors import NotFoundError

        from tooltrail.schemas.vectors.chroma import open_client
        from tooltrail.schemas.vectors.embedders import embedder_id, make_embedder

        s = self.settings
        if s.chroma_url is None:
            raise MemoryUnavailableError(
                "memory is not configured: the tool server has no TOOLTRAIL_CHROMA_URL"
            )
        if self._client is None:
            self._client = open_client(
                s.chroma_url,
                token=s.chroma_token_value(),
                tenant=s.chroma_tenant,
                database=s.chroma_database,
                timeout=s.memory_tools_timeout_s,
            )
        ours = embedder_id(self._embedder or make_embedder(s.embedder, s.embed_threads))
        found = []
        for name in s.collection_names():
            try:
                collection = self._client.get_collection(name)
            except NotFoundError:
                continue  # no memory written yet: nothing to find, not an error
            theirs = (collection.metadata or {}).get("embedder")
            if theirs != ours:
                raise MemoryUnavailableError(
                    f"collection {name!r} was built with embedder {label(str(theirs), 100)!r}, "
                    "this tool server "
                    f"embeds with {ours!r}: set TOOLTRAIL_EMBEDDER as the memory workers do"
                )
            found.append(collection)
        return found


class _Guard:
    """One call at a time; any failure becomes ``MemoryUnavailableError`` and a reconnect."""

    def __init__(self, reader: MemoryReader, what: str) -> None:
        self.reader = reader
        self.what = what

    def __enter__(self) -> None:
        if not self.reader._lock.acquire(timeout=self.reader.settings.memory_tools_timeout_s):
            raise MemoryUnavailableError("memory is busy answering an earlier call")

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        try:
            if exc is None or isinstance(exc, MemoryUnavailableError):
                return
            self.reader._forget()
            if isinstance(exc, ModuleNotFoundError):
                raise MemoryUnavailableError(
                    f"the memory tools need {exc.name or 'a library'}: "
                    "pip install 'tooltrail[worker]' (or [memory]) in the tool server"
                ) from exc
            if isinstance(exc, Exception):
                detail = clean(first_line(f"{type(exc).__name__}: {exc}", 400), 200)
                raise MemoryUnavailableError(f"{self.what} failed: {detail}") from exc
        finally:
            self.reader._lock.release()
