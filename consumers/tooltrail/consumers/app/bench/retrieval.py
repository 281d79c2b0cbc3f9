"""``tooltrail bench embed``: MiniLM variants, docs/s against today's embedder, recall@3.

Every variant embeds the same corpus of memory documents (the demo's tool calls through
``build_event`` and ``to_memory``) single-threaded unless it says otherwise, in calls of
``CALL_SIZE`` documents as the memory and enrich groups do. Variants take turns, round after
round, so a neighbour's load on a shared machine falls on all of them alike; the figure is
the median of the rounds, after a warm-up that is not timed. docs/s is wall time; docs per
CPU-second is the per-core figure (it counts every thread of the process: tokenizer,
onnxruntime). Today's embedder and the default also embed ``tooltrail bench memory``'s
synthetic summaries, which are all about one length (length-sorted batching has little
padding to save there).

Retrieval quality is measured on ``retrieval_data``: groups of memories of one incident that
should find each other, among distractors. recall@3: for each document with group-mates,
the fraction of its mates among its 3 nearest other documents (cosine), averaged; MRR: the
mean of 1 / rank of the nearest mate. A variant whose recall@3 is more than
``MAX_RECALL_LOSS`` below today's is not eligible as the default. Variants that only change
speed (order, batch size, graph optimisation, threads) must give today's vectors
(cosine >= ``SAME_VECTOR_COS``); the command fails if one does not.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np

from tooltrail.consumers.app.bench import retrieval_situations
from tooltrail.consumers.app.bench.common import machine, median, report
from tooltrail.consumers.app.bench.retrieval_data import Call, documents, event_of
from tooltrail.consumers.app.bench.retrieval_scoring import (
    K,
    mates_of,
    mrr,
    recall_at_k,
    unit,
)
from tooltrail.consumers.memory.embedders import MiniLMOnnxEF
from tooltrail.consumers.memory.records import embedding_text, to_memory
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.events import ToolExecutionEvent

#: documents per embedder call: what a memory or enrich group embeds at most per batch
CALL_SIZE: int = WorkerSettings.model_fields["embed_batch_records"].default
MAX_RECALL_LOSS = 0.02
SAME_VECTOR_COS = 0.9999
#: today's embedder (before length-sorted batching), spelled out: the defaults have moved
#: (``view``: embed ``embedding_text`` instead of the stored document)
TODAY: dict[str, Any] = {
    "threads": 1,
    "max_length": 256,
    "batch": 32,
    "sort_by_length": False,
    "graph_optimization": "all",
    "view": False,
}
_SORTED = {"sort_by_length": True}
_B4 = {"sort_by_length": True, "batch": 4}
#: name -> changes to ``TODAY`` (``default``: whatever ``MiniLMOnnxEF()`` is now)
VARIANTS: dict[str, dict[str, Any]] = {
    "today": {},
    "ort-basic": {"graph_optimization": "basic"},
    "ort-extended": {"graph_optimization": "extended"},
    "threads2": {"threads": 2},
    "max192": {"max_length": 192},
    "max128": {"max_length": 128},
    "sorted-b32": _SORTED,
    "sorted-b16": {**_SORTED, "batch": 16},
    "sorted-b8": {**_SORTED, "batch": 8},
    "sorted-b4": _B4,
    "sorted-b2": {**_SORTED, "batch": 2},
    "sorted-b4-basic": {**_B4, "graph_optimization": "basic"},
    "sorted-b4-extended": {**_B4, "graph_optimization": "extended"},
    "sorted-b4-basic-max192": {**_B4, "graph_optimization": "basic", "max_length": 192},
    "sorted-b4-basic-max128": {**_B4, "graph_optimization": "basic", "max_length": 128},
    "sorted-b4-basic-threads2": {**_B4, "graph_optimization": "basic", "threads": 2},
    "sorted-b8-basic-threads2": {
        **_SORTED,
        "batch": 8,
        "graph_optimization": "basic",
        "threads": 2,
    },
    "default-full-text": {},
    "default": {},
}
QUICK = ("today", "default-full-text", "default")
#: --quick: evaluation documents today's embedder embeds itself (see ``run``)
QUICK_TODAY_SAMPLE = 24


def config_of(name: str) -> dict[str, Any]:
    """Constructor arguments of variant ``name``."""
    if name in ("default", "default-full-text"):
        e = MiniLMOnnxEF()
        return {
            "threads": e.threads,
            "max_length": e.max_length,
            "batch": e.batch,
            "sort_by_length": e.sort_by_length,
            "graph_optimization": e.graph_optimization,
            "view": name == "default",
        }
    return {**TODAY, **VARIANTS[name]}


def _embedder(config: dict[str, Any]) -> MiniLMOnnxEF:
    return MiniLMOnnxEF(**{k: v for k, v in config.items() if k != "view"})


class Text(NamedTuple):
    """A memory as Chroma stores it and as the groups embed it."""

    document: str
    view: str

    def of(self, config: dict[str, Any]) -> str:
        """The text variant ``config`` embeds."""
        return self.view if config["view"] else self.document


def demo_corpus(n: int) -> list[Text]:
    """``n`` memory documents of the demo's calls (``tooltrail up --demo``), fixed times."""
    from tooltrail.consumers.app.demo import tools
    from tooltrail.consumers.app.demo.traffic import DEMO_CALLS

    async def one(i: int) -> Call:
        name, make_args = DEMO_CALLS[i % len(DEMO_CALLS)]
        args = make_args(i)
        at = datetime(2026, 11, 23, 10, tzinfo=UTC) + timedelta(seconds=7 * i)
        when = at.strftime("%m-%dT%H:%M:%S")
        try:
            result = await getattr(tools, name)(**args)
        except tools.ToolFailure as exc:
            return Call(name, args, when, error=str(exc), session=f"sess-demo-{i % 4}")
        return Call(name, args, when, result=result, session=f"sess-demo-{i % 4}")

    async def all_calls() -> list[Call]:
        return list(await asyncio.gather(*(one(i) for i in range(n))))

    return [_text(event_of(call)) for call in asyncio.run(all_calls())]


def memory_bench_corpus(n: int) -> list[Text]:
    """``n`` summaries of ``tooltrail bench memory``: synthetic, all about the same length."""
    from tooltrail.consumers.app.bench.memory import _events

    return [_text(e) for e in _events(n)]


def _text(event: ToolExecutionEvent) -> Text:
    return Text(to_memory(event).document, embedding_text(event))


def _embed(embedder: MiniLMOnnxEF, texts: list[str]) -> Any:
    out = []
    for start in range(0, len(texts), CALL_SIZE):
        out.extend(embedder(texts[start : start + CALL_SIZE]))
    return np.asarray(out)


def _speeds(
    embedders: dict[str, MiniLMOnnxEF], corpora: dict[str, list[str]], rounds: int
) -> dict[str, tuple[float, float]]:
    """Median (docs/s, docs per CPU-second) per embedder, taking turns in a new order each round."""
    names = list(embedders)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            corpus = corpora[name]
            t0, c0 = time.perf_counter(), time.process_time()
            _embed(embedders[name], corpus)
            wall[name].append(len(corpus) / (time.perf_counter() - t0))
            cpu[name].append(len(corpus) / max(time.process_time() - c0, 1e-9))
    return {name: (median(wall[name]), median(cpu[name])) for name in names}


def run(*, quick: bool) -> dict[str, Any]:
    """Measure every variant (``QUICK`` ones with --quick) and return the figures."""
    names = list(QUICK if quick else VARIANTS)
    n, rounds = (16, 1) if quick else (400, 3)  # --quick: a smoke run of every step
    corpus = demo_corpus(n)
    evals = documents()
    groups = [d.group for d in evals]
    configs = {name: config_of(name) for name in names}
    embedders = {name: _embedder(config) for name, config in configs.items()}
    # --quick: today's padded batches embed only a sample (they cost as much as the rest
    # together); its full vectors are then those of the default on the same full texts,
    # which must be today's vectors on the sample (``same_vectors``, checked below)
    today_docs = evals[:QUICK_TODAY_SAMPLE] if quick else evals
    vectors = {
        name: _embed(e, [Text(d.text, d.view).of(configs[name]) for d in today_docs])
        if name == "today"
        else _embed(e, [Text(d.text, d.view).of(configs[name]) for d in evals])
        for name, e in embedders.items()
    }  # also the warm-up
    speeds = _speeds(
        embedders, {name: [t.of(c) for t in corpus] for name, c in configs.items()}, rounds
    )
    (wall0, cpu0), base = speeds["today"], vectors["today"]
    full_today = vectors["default-full-text"] if quick else base
    recall0 = recall_at_k(full_today, groups)
    out: dict[str, Any] = {}
    for name in names:
        wall, cpu = speeds[name]
        mine = full_today if name == "today" else vectors[name]
        same = float(np.min(np.sum(unit(mine[: len(base)]) * unit(base), axis=1)))
        recall = recall_at_k(mine, groups)
        out[name] = {
            "config": configs[name],
            "docs_per_s": round(wall, 1),
            "ratio": round(wall / wall0, 2),
            "docs_per_cpu_s": round(cpu, 1),
            "cpu_ratio": round(cpu / cpu0, 2),
            "recall_at_3": round(recall, 4),
            "mrr": round(mrr(mine, groups), 4),
            "min_cos_vs_today": round(same, 6),
            "same_vectors": same >= SAME_VECTOR_COS,
            "eligible": recall >= recall0 - MAX_RECALL_LOSS,
        }
    bench_texts = memory_bench_corpus(n)
    uniform = _speeds(
        {k: embedders[k] for k in ("today", "default")},
        {k: [t.of(configs[k]) for t in bench_texts] for k in ("today", "default")},
        rounds,
    )
    tokenizer = embedders["today"]._tokenizer
    lengths = [len(e.ids) for e in tokenizer.encode_batch([t.document for t in corpus])]
    view_lengths = [len(e.ids) for e in tokenizer.encode_batch([t.view for t in corpus])]
    speed_only = [
        v
        for v in out.values()
        if v["config"]["max_length"] == TODAY["max_length"] and not v["config"]["view"]
    ]
    return {
        "variants": out,
        "default": config_of("default"),
        "speed_only_variants_keep_vectors": all(v["same_vectors"] for v in speed_only),
        "corpus": {
            "docs": n,
            "rounds": rounds,
            "call_size": CALL_SIZE,
            "mean_tokens": round(float(np.mean(lengths)), 1),
            "max_tokens": max(lengths),
            "mean_view_tokens": round(float(np.mean(view_lengths)), 1),
        },
        "memory_bench_texts": {
            "docs": n,
            "today_docs_per_s": round(uniform["today"][0], 1),
            "default_docs_per_s": round(uniform["default"][0], 1),
            "ratio": round(uniform["default"][0] / uniform["today"][0], 2),
            "cpu_ratio": round(uniform["default"][1] / uniform["today"][1], 2),
        },
        "eval": {
            "docs": len(evals),
            # how many of them today's embedder itself embedded (--quick: a sample)
            "today_embedded": len(today_docs),
            "groups": len({g for g in groups if g}),
            "distractors": groups.count(None),
            "queries": len(mates_of(groups)),
            "k": K,
            "max_recall_loss": MAX_RECALL_LOSS,
        },
        # the default embeds each call's embedding text: the per-call vectors are its own
        "situations": retrieval_situations.run(embedders["default"], vectors["default"]),
        "machine": machine(),
    }


def table(result: dict[str, Any]) -> list[str]:
    """The human-readable lines of ``result``."""
    lines = [
        f"{'variant':<26} {'docs/s':>7} {'ratio':>6} {'docs/cpu-s':>10} {'cpu ratio':>9} "
        f"{'recall@3':>8} {'MRR':>6} {'same vectors':>12}  eligible"
    ]
    for name, v in result["variants"].items():
        lines.append(
            f"{name:<26} {v['docs_per_s']:>7} {v['ratio']:>6} {v['docs_per_cpu_s']:>10} "
            f"{v['cpu_ratio']:>9} {v['recall_at_3']:>8.3f} {v['mrr']:>6.3f} "
            f"{'yes' if v['same_vectors'] else 'no':>12}  {'yes' if v['eligible'] else 'no'}"
        )
    c, e, u = result["corpus"], result["eval"], result["memory_bench_texts"]
    lines += [
        f"corpus: {c['docs']} demo memories ({c['mean_tokens']} tokens on average, at most "
        f"{c['max_tokens']}; {c['mean_view_tokens']} in the embedding text), calls of "
        f"{c['call_size']}, median of {c['rounds']} rounds",
        f"recall@{e['k']}: {e['queries']} documents in {e['groups']} groups among "
        f"{e['distractors']} distractors; eligible = at most {e['max_recall_loss'] * 100:.0f} "
        "points below today",
        f"default: {result['default']}",
        "speed-only variants give today's vectors: "
        + ("yes" if result["speed_only_variants_keep_vectors"] else "NO")
        + (
            f" (--quick: today's embedder embedded {e['today_embedded']} of the {e['docs']}"
            " documents; its recall is that of default-full-text, the same vectors)"
            if e["today_embedded"] < e["docs"]
            else ""
        ),
        f"bench memory's synthetic summaries (all about one length): today {u['today_docs_per_s']}"
        f" docs/s, default {u['default_docs_per_s']} docs/s -> ratio {u['ratio']}",
    ]
    return lines + retrieval_situations.lines(result["situations"])


def main(*, as_json: bool, quick: bool) -> int:
    """Entry point of ``tooltrail bench embed``."""
    result = run(quick=quick)
    report(result, as_json, table(result))
    return 0 if result["speed_only_variants_keep_vectors"] else 1
