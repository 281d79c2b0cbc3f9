"""``tooltrail bench <target>``: figures against a same-run baseline."""

from __future__ import annotations

import importlib
from typing import Any

from tooltrail.consumers.app.commands import add, positive_int, subcommands

TARGETS = {
    "emit": "producer cost per call against the old inline write; throughput against raw aiokafka",
    "metrics": "the metrics writer against a raw consume loop; freshness at a steady rate",
    "memory": "the memory group against a raw embed + upsert loop; freshness; query latency",
    "enrich": "the cache lookup against the old inline search; staleness in another process",
    "embed": "embedder variants: docs/s against today's MiniLM, recall@3 on incident memories",
    "situations": "memory + enrich groups under realistic traffic at 20 and 50 calls/s",
    "memory-tools": "an agent's memory_search through the SDK against embed + one scoped query",
}
MODULES = {  # target -> tooltrail.consumers.app.bench module, where they differ
    "embed": "retrieval",
    "memory-tools": "memory_tools",
}


def register(commands: Any) -> None:
    """``tooltrail bench <target>``."""
    parser = add(
        commands,
        "bench",
        "benchmarks: figures and ratios against a same-run baseline",
        "Each benchmark starts its own broker (and Chroma) unless "
        "TOOLTRAIL_KAFKA_BOOTSTRAP / TOOLTRAIL_CHROMA_URL are set, and measures "
        "against a baseline taken in the same run.",
    )
    bench = subcommands(parser, "target")
    for target, summary in TARGETS.items():
        p = add(bench, target, summary)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.add_argument("--quick", action="store_true", help="smaller samples (a smoke run)")
        if target == "emit":
            p.add_argument(
                "--rounds",
                type=positive_int,
                default=None,
                help="interleaved rounds of the SDK comparison (default 7, 2 with --quick)",
            )
        p.set_defaults(handler=lambda a, t=target: _run(t, a))


def _run(target: str, args: Any) -> int:
    module = importlib.import_module(f"tooltrail.consumers.app.bench.{MODULES.get(target, target)}")
    extra = {"rounds": args.rounds} if target == "emit" else {}
    result: int = module.main(as_json=args.json, quick=args.quick, **extra)
    return result
