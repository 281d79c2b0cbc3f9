"""The retrieval evaluation on situations: recall@3 must not drop, distinctness measured.

The same evaluation set as ``tooltrail bench embed`` (``retrieval_data``: groups of calls of
one incident that should find each other, among distractors), embedded two ways with the
default embedder: one memory per call (its ``embedding_text``, as before situations), and one
memory per situation (``situation_of``: calls of one situation are one memory, embedded by its
short situation text). recall@3 is over the memories each way (a situation's group is the
group of its calls; a group whose calls all fall into one situation has no mates left and
asks nothing). Distinctness: the share of top-3 lists holding no two memories of one
situation (per call: duplicates are possible; per situation: 1.0 by construction).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tooltrail.consumers.app.bench.retrieval_data import DISTRACTORS, GROUPS, event_of
from tooltrail.consumers.app.bench.retrieval_scoring import K, mates_of, ranked, recall_at_k
from tooltrail.consumers.memory.embedders import MiniLMOnnxEF, minilm_token_counts
from tooltrail.consumers.memory.records import embedding_text
from tooltrail.consumers.memory.situations import situation_of


def _recall(vectors: Any, groups: list[str | None]) -> tuple[float, int]:
    """``bench embed``'s recall@3 (the same function), and how many documents asked."""
    return recall_at_k(vectors, groups), len(mates_of(groups))


def run(embedder: MiniLMOnnxEF | None = None, call_vectors: Any = None) -> dict[str, Any]:
    """recall@3, queries, distinctness and median tokens, per call and per situation.

    ``call_vectors``: the per-call vectors when the caller already has them (``bench embed``'s
    default variant embeds the same texts, in the same order, with the same embedder).
    """
    model = embedder or MiniLMOnnxEF()
    labelled: list[tuple[str | None, Any]] = [(g, c) for g, calls in GROUPS.items() for c in calls]
    labelled += [(None, c) for c in DISTRACTORS.values()]
    events = [(g, event_of(c)) for g, c in labelled]
    sits = [situation_of(e) for _, e in events]
    call_texts = [embedding_text(e) for _, e in events]
    call_groups = [g for g, _ in events]
    by_id: dict[str, tuple[str | None, str]] = {}
    for (group, _), sit in zip(events, sits, strict=True):
        known = by_id.get(sit.id)
        by_id[sit.id] = (known[0] if known and known[0] else group, sit.embedding_text)
    sit_ids = list(by_id)
    if call_vectors is None:
        call_vectors = model(call_texts)
    elif len(call_vectors) != len(call_texts):
        raise ValueError(f"{len(call_vectors)} call vectors for {len(call_texts)} calls")
    ranked_calls = ranked(call_vectors)
    call_recall, call_queries = _recall(call_vectors, call_groups)
    sit_recall, sit_queries = _recall(
        model([by_id[i][1] for i in sit_ids]), [by_id[i][0] for i in sit_ids]
    )
    owner = [s.id for s in sits]
    distinct = np.mean([len({owner[j] for j in row[:K].tolist()}) == K for row in ranked_calls])
    return {
        "calls": len(events),
        "situations": len(sit_ids),
        "per_call": {
            "recall_at_3": round(call_recall, 4),
            "queries": call_queries,
            "distinct_top3_share": round(float(distinct), 4),
            "median_tokens": float(np.median(minilm_token_counts(call_texts))),
        },
        "per_situation": {
            "recall_at_3": round(sit_recall, 4),
            "queries": sit_queries,
            "distinct_top3_share": 1.0,
            "median_tokens": float(np.median(minilm_token_counts([by_id[i][1] for i in sit_ids]))),
        },
    }


def lines(result: dict[str, Any]) -> list[str]:
    """The human-readable lines of ``result``."""
    c, s = result["per_call"], result["per_situation"]
    return [
        f"situations: {result['calls']} calls -> {result['situations']} situations; recall@3 "
        f"per call {c['recall_at_3']:.3f} ({c['queries']} queries), per situation "
        f"{s['recall_at_3']:.3f} ({s['queries']} queries); distinct top-3 per call "
        f"{c['distinct_top3_share']:.2f}, per situation 1.00; median tokens "
        f"{c['median_tokens']:.0f} -> {s['median_tokens']:.0f}",
    ]
