"""``MemoryStore``: the vector memories in Chroma, as every writer and reader uses them.

One place connects (``open_chroma``: token, tenant, database, timeouts), opens the
collections of the configured strategy (one unified collection, or one per kind), checks
that each was built with this embedder, embeds, upserts and queries. Every method is
blocking (callers run it in a ``Lane``) and raises only ``RetriableSinkError`` (Chroma is
unavailable, slow or refuses us) or ``SinkError`` (Chroma refused the data itself).
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tooltrail.consumers.errors import RetriableSinkError, SinkError
from tooltrail.consumers.memory.chroma import close_client, open_chroma, sink_error
from tooltrail.consumers.memory.embedders import HashingEF, MiniLMOnnxEF, embedder_id
from tooltrail.consumers.memory.vector_cache import shared_cache
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.records import MemoryRecord

log = logging.getLogger(__name__)
KINDS = ("tool_exec", "failure", "incident")


class EmbedderMismatchError(RetriableSinkError):
    """The collection's vectors were made by another embedder (a setting to fix, not data)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One query result: a memory and its distance to the query."""

    id: str
    document: str
    metadata: dict[str, Any]
    distance: float


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored memory read back by id: where it is, its metadata, document and vector."""

    collection: str
    metadata: dict[str, Any]
    document: str
    vector: Any


def collection_names(settings: WorkerSettings) -> dict[str, str]:
    """``{kind: collection name}`` for the configured strategy."""
    if settings.unified_memory:
        return dict.fromkeys(KINDS, settings.chroma_collection)
    return {kind: f"{settings.chroma_collection_prefix}{kind}" for kind in KINDS}


class MemoryStore:
    """Chroma collections of memories (see module docstring). Not thread-safe: one lane."""

    def __init__(
        self,
        settings: WorkerSettings,
        embedder: MiniLMOnnxEF | HashingEF,
        names: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.embedder_id = embedder_id(embedder)
        self.names = names or collection_names(settings)
        self.cache = shared_cache(settings.embed_cache_size)
        self._client: Any = None
        self._collections: dict[str, Any] = {}
        self._identities: dict[str, str] = {}  # collection name -> the id first seen
        self.store_resets = 0
        self.store_reset_at: str | None = None  # ISO time of the last reset detected

    @contextmanager
    def _chroma(self, what: str, *, about_data: bool = False) -> Iterator[None]:
        try:
            yield
        except SinkError:
            raise
        except Exception as exc:  # classified: retriable unless about the data
            error = sink_error(exc, what, about_data=about_data)
            if isinstance(error, RetriableSinkError):
                self.forget()  # reconnect and reopen by name next time (a swap, a restart)
            raise error from exc

    def ensure(self) -> None:
        """Connect and open every collection of the strategy (creating missing ones)."""
        with self._chroma("chroma connect"):
            if self._client is None:
                self._client = open_chroma(self.settings)
            for name in sorted(set(self.names.values())):
                if name not in self._collections:
                    self._collections[name] = self._open(name)

    def _open(self, name: str) -> Any:
        # No embedding function in the collection's configuration: tooltrail always sends
        # vectors, and a plain chromadb client (without tooltrail) then opens the collection
        # with Chroma's default function, which is the same all-MiniLM-L6-v2 model.
        try:
            collection = self._client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedder": self.embedder_id, "tooltrail": "memory/1"},
            )
        except ValueError as exc:  # chroma refuses a different embedding function itself
            if "conflict" not in str(exc).lower():
                raise
            collection = self._client.get_collection(name)
        self._check_identity(name, collection)
        found = (collection.metadata or {}).get("embedder")
        if found != self.embedder_id:
            raise EmbedderMismatchError(
                f"collection {name!r} was built with embedder {found!r}, this worker uses "
                f"{self.embedder_id!r}: rebuild it with 'tooltrail replay memory' or set "
                "TOOLTRAIL_EMBEDDER to match"
            )
        return collection

    def _check_identity(self, name: str, collection: Any) -> None:
        """Notice a collection wiped or recreated under us (issue 28): same name, new id, empty.

        A replay ``--swap`` also gives the name a new id, but with the rebuilt memories in it;
        an empty collection with a new id is a store that lost its data (a wiped volume, a
        fresh server on the same address). The collection is marked (``resetDetectedAt``,
        read by ``memory stats``/``memory audit``), a warning is logged and ``store_resets``
        counts it (``tooltrail_store_resets_total``).
        """
        known = self._identities.get(name)
        self._identities[name] = str(collection.id)
        if known is None or known == str(collection.id) or collection.count() > 0:
            return
        self.store_resets += 1
        when = datetime.now(UTC).isoformat(timespec="seconds")
        self.store_reset_at = when
        log.warning(
            "memory store was wiped or recreated under this worker: the memories written "
            "before are lost; rebuild them with 'tooltrail replay memory --swap'",
            extra={"collection": name, "old_id": known, "new_id": str(collection.id)},
        )
        meta = dict(collection.metadata or {})
        meta.update(resetDetectedAt=when, resetPreviousId=known)
        with contextlib.suppress(Exception):  # the mark is advice; the warning is logged
            collection.modify(metadata=meta)

    def collection_by_name(self, name: str) -> Any:
        """The opened collection called ``name`` (after ``ensure``)."""
        return self._collections[name]

    def guarded(self, what: str) -> Any:
        """A context in which Chroma's failures become sink errors (for callers' own calls)."""
        return self._chroma(what)

    def collection(self, kind: str) -> Any:
        """The opened collection that holds memories of ``kind`` (after ``ensure``)."""
        return self._collections[self.names[kind]]

    def embed(self, texts: Sequence[str]) -> list[Any]:
        """One vector per text; each distinct text once per process (``VectorCache``)."""
        with self._chroma("embed", about_data=True):
            if self.cache is None:
                return list(self.embedder(list(texts)))
            return self.cache.embed(self.embedder_id, texts, self.embedder)  # id names max_length

    def warm(self) -> None:
        """Load the model now (about a second for MiniLM) rather than on the first event.

        Called on the embedder itself, not through the shared cache: each store has its own.
        """
        with self._chroma("embed", about_data=True):
            self.embedder(["tooltrail warm-up"])

    def _resolve(self) -> None:
        """Open every collection again by name (a replay ``--swap`` may have renamed them).

        Called right before each upsert and query, after the slow embedding, so a write goes
        to whatever collection has the live name now; one small request per collection.
        """
        self.ensure()
        with self._chroma("chroma connect"):
            for name in list(self._collections):
                self._collections[name] = self._open(name)

    def upsert(self, records: Iterable[MemoryRecord], vectors: Sequence[Any] | None = None) -> None:
        """Embed (unless ``vectors`` are given) and upsert; idempotent by memory id."""
        items = list(records)
        if not items:
            return
        self.ensure()
        vectors = list(vectors) if vectors is not None else self.embed([r.document for r in items])
        self._resolve()
        groups: dict[str, list[int]] = defaultdict(list)
        for i, record in enumerate(items):
            groups[self.names[str(record.metadata["kind"])]].append(i)
        with self._chroma("chroma upsert", about_data=True):
            for name, index in groups.items():
                self._collections[name].upsert(
                    ids=[items[i].id for i in index],
                    embeddings=[vectors[i] for i in index],
                    documents=[items[i].document for i in index],
                    metadatas=[items[i].metadata for i in index],
                )

    def query(self, vector: Any, k: int, where: dict[str, Any] | None = None) -> list[Row]:
        """The ``k`` nearest memories over every collection of the strategy."""
        self._resolve()
        rows: list[Row] = []
        with self._chroma("chroma query", about_data=True):
            for name in sorted(set(self.names.values())):
                res = self._collections[name].query(
                    query_embeddings=[vector],
                    n_results=k,
                    where=where,
                    include=["documents", "metadatas", "distances"],
                )
                for hit, doc, meta, dist in zip(
                    res["ids"][0],
                    res["documents"][0],
                    res["metadatas"][0],
                    res["distances"][0],
                    strict=True,
                ):
                    rows.append(Row(str(hit), doc or "", dict(meta or {}), float(dist)))
        return sorted(rows, key=lambda r: r.distance)[:k]

    def get_many(self, ids: Sequence[str]) -> dict[str, Stored]:
        """The stored memories among ``ids``, with their vectors: one ``get`` per collection."""
        found: dict[str, Stored] = {}
        if not ids:
            return found
        self._resolve()
        with self._chroma("chroma get"):
            for name in sorted(set(self.names.values())):
                res = self._collections[name].get(
                    ids=list(ids), include=["documents", "metadatas", "embeddings"]
                )
                for i, hit in enumerate(res["ids"]):
                    found.setdefault(
                        str(hit),
                        Stored(
                            name,
                            dict(res["metadatas"][i] or {}),
                            res["documents"][i] or "",
                            res["embeddings"][i],
                        ),
                    )
        return found

    def put(self, name: str, rows: Sequence[tuple[str, Any, str, dict[str, Any]]]) -> None:
        """Upsert ``(id, vector, document, metadata)`` rows into the collection ``name``."""
        if not rows:
            return
        with self._chroma("chroma upsert", about_data=True):
            self._collections[name].upsert(
                ids=[r[0] for r in rows],
                embeddings=[r[1] for r in rows],
                documents=[r[2] for r in rows],
                metadatas=[r[3] for r in rows],
            )

    def query_many(
        self, vectors: Sequence[Any], k: int, where: dict[str, Any] | None = None
    ) -> list[list[Row]]:
        """The ``k`` nearest memories of each vector: one query per collection for all."""
        if not vectors:
            return []
        self._resolve()
        rows: list[list[Row]] = [[] for _ in vectors]
        with self._chroma("chroma query", about_data=True):
            for name in sorted(set(self.names.values())):
                res = self._collections[name].query(
                    query_embeddings=list(vectors),
                    n_results=k,
                    where=where,
                    include=["documents", "metadatas", "distances"],
                )
                for q, found in enumerate(rows):
                    for hit, doc, meta, dist in zip(
                        res["ids"][q],
                        res["documents"][q],
                        res["metadatas"][q],
                        res["distances"][q],
                        strict=True,
                    ):
                        found.append(Row(str(hit), doc or "", dict(meta or {}), float(dist)))
        return [sorted(found, key=lambda r: r.distance)[:k] for found in rows]

    def forget(self) -> None:
        """Drop the client and collection handles; the next call reconnects by name."""
        client, self._client, self._collections = self._client, None, {}
        if client is not None:
            close_client(client)

    def close(self) -> None:
        """Close the Chroma client and its HTTP sessions."""
        self.forget()
