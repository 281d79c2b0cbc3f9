"""``tooltrail memory search``: the distinct situations nearest to a text, filtered by scope."""

from __future__ import annotations

from typing import Any

from tooltrail.consumers.app.commands.memory_common import client_for, dump
from tooltrail.consumers.memory.chroma import close_client
from tooltrail.consumers.memory.embedders import make_embedder
from tooltrail.consumers.memory.situations import distinct_key
from tooltrail.consumers.memory.store import collection_names
from tooltrail.consumers.settings import WorkerSettings


def _where(filters: dict[str, str | None]) -> dict[str, Any] | None:
    terms = [{key: value} for key, value in filters.items() if value]
    return terms[0] if len(terms) == 1 else ({"$and": terms} if terms else None)


def _rows(collection: Any, vector: Any, k: int, where: dict[str, Any] | None) -> list[Any]:
    """``(id, document, metadata, distance)`` nearest first; exact scan when a filter starves.

    A filtered HNSW query can come back short (or empty) on a collection of near-identical
    vectors; then the filtered rows are scored exactly (bounded by ``SCAN_LIMIT``).
    """
    res = collection.query(
        query_embeddings=vector,
        n_results=k,
        where=where,
        include=["documents", "metadatas", "distances"],
    )
    rows = list(
        zip(
            res["ids"][0],
            res["documents"][0],
            res["metadatas"][0],
            res["distances"][0],
            strict=True,
        )
    )
    if where is None or len(rows) >= k:
        return rows
    import numpy as np

    got = collection.get(
        where=where, limit=SCAN_LIMIT, include=["documents", "metadatas", "embeddings"]
    )
    if not got["ids"]:
        return rows
    matrix = np.asarray(got["embeddings"], dtype=np.float32)
    query = np.asarray(vector[0], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(query)), 1e-12)
    distances = 1.0 - (matrix @ query) / np.maximum(norms, 1e-12)
    scanned = zip(got["ids"], got["documents"], got["metadatas"], distances.tolist(), strict=True)
    return sorted(scanned, key=lambda r: r[3])


SCAN_LIMIT = 20_000


def search(
    settings: WorkerSettings,
    text: str,
    *,
    tool: str | None,
    kind: str | None,
    k: int,
    as_json: bool,
    environment: str | None = None,
    domain: str | None = None,
) -> int:
    """Print the ``k`` distinct situations nearest to ``text`` (filters: tool, kind, scope)."""
    names = collection_names(settings)
    wanted = {names[kind]} if kind else set(names.values())
    where = _where(
        {
            "environment": environment,
            "domain": domain,
            "tool": tool,
            "kind": kind if settings.unified_memory else None,
        }
    )
    client = client_for(settings)
    vector = make_embedder(settings.embedder, settings.embed_threads)([text])
    rows: list[tuple[str, str, str, Any, float]] = []
    try:
        existing = {c.name for c in client.list_collections()}
        for name in sorted(wanted & existing):
            fetched = _rows(client.get_collection(name), vector, min(k * 4, 100), where)
            rows += [(name, *row) for row in fetched]
    finally:
        close_client(client)
    hits, seen = [], set()
    for name, i, d, m, dist in sorted(rows, key=lambda r: r[4]):
        meta = dict(m or {})
        key = distinct_key(meta, d or "")
        if key in seen:
            continue  # never two of one situation
        seen.add(key)
        hits.append(
            {
                "id": i,
                "distance": round(float(dist), 4),
                "collection": name,
                "kind": meta.get("kind"),
                "tool": meta.get("tool"),
                "environment": meta.get("environment"),
                "occurrences": int(meta.get("occurrences", 1) or 1),
                "lastSeen": meta.get("lastSeen") or meta.get("timestamp"),
                "summary": d,
            }
        )
    hits = hits[:k]
    if as_json:
        dump(hits)
        return 0
    for rank, h in enumerate(hits, 1):
        print(
            f"{rank}. {h['distance']:.3f}  {h['tool']}  {h['kind']}  x{h['occurrences']}  "
            f"last {h['lastSeen']}  {h['id']}"
        )
        print(f"   {str(h['summary']).splitlines()[0][:160]}")
    if not hits:
        print("no memories found")
    return 0
