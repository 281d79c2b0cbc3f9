"""Scores of a retrieval evaluation: cosine rankings, recall@k and MRR over labelled groups.

Shared by ``bench embed`` (per call) and its situation check (per situation), so that both
judge with the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

K = 3
__all__ = ["K", "mates_of", "mrr", "ranked", "recall_at_k", "unit"]


def unit(vectors: Any) -> Any:
    matrix = np.asarray(vectors, dtype=np.float64)
    return matrix / np.clip(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12, None)


def ranked(vectors: Any) -> Any:
    """Per document, every other document by decreasing cosine (itself last)."""
    normed = unit(vectors)
    sims = normed @ normed.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")


def mates_of(groups: Sequence[str | None]) -> dict[int, set[int]]:
    out = {}
    for i, g in enumerate(groups):
        mates = {j for j, h in enumerate(groups) if g is not None and h == g and j != i}
        if mates:
            out[i] = mates
    return out


def recall_at_k(vectors: Any, groups: Sequence[str | None], k: int = K) -> float:
    """Mean over documents with mates of the fraction of their mates in their top ``k``."""
    order, mates = ranked(vectors), mates_of(groups)
    if not mates:
        raise ValueError("no document has a group-mate")
    scores = [len(m & set(order[i, :k].tolist())) / len(m) for i, m in mates.items()]
    return float(np.mean(scores))


def mrr(vectors: Any, groups: Sequence[str | None]) -> float:
    """Mean over documents with mates of 1 / the rank of their nearest mate."""
    order, mates = ranked(vectors), mates_of(groups)
    if not mates:
        raise ValueError("no document has a group-mate")
    ranks = [
        next(r for r, j in enumerate(order[i].tolist(), 1) if j in m) for i, m in mates.items()
    ]
    return float(np.mean([1 / r for r in ranks]))
