"""The ``tooltrail`` command: wires parts together, holds no logic of its own.

stdout carries only what the user asked for (tables, JSON); logs go to stderr as JSON lines.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from consumers import logs
from schemas.errors import TooltrailError

Handler = Callable[[argparse.Namespace], int]


def _version() -> str:
    try:
        return version("tooltrail")
    except PackageNotFoundError:
        return "0+unknown"


def _cmd_schemas(args: argparse.Namespace) -> int:
    from schemas import jsonschemas

    if args.action == "dump":
        for path in jsonschemas.write():
            print(path)
        return 0
    stale = jsonschemas.drift()
    for name in stale:
        print(f"stale: {name} (run 'tooltrail schemas dump')")
    return 1 if stale else 0


def _cmd_settings(args: argparse.Namespace) -> int:
    from consumers.commands.settings import show

    return show(as_json=args.json, markdown=args.markdown)


def _cmd_infra(args: argparse.Namespace) -> int:
    from consumers.commands.infra import run

    return run(args.data_dir, kafka_port=args.kafka_port, chroma_port=args.chroma_port)


def _cmd_demo_server(args: argparse.Namespace) -> int:
    from consumers.demo.server import run

    return run(args.sdk, instrument=not args.no_instrument)


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.target == "emit":
        from consumers.bench.emit import main as bench_emit

        return bench_emit(as_json=args.json, quick=args.quick)
    if args.target == "enrich":
        from consumers.bench.enrich import main as bench_enrich

        return bench_enrich(as_json=args.json, quick=args.quick)
    if args.target == "memory":
        from consumers.bench.memory import main as bench_memory

        return bench_memory(as_json=args.json, quick=args.quick)
    from consumers.bench.metrics import main as bench_metrics

    return bench_metrics(as_json=args.json, quick=args.quick)


def _cmd_worker(args: argparse.Namespace) -> int:
    import asyncio

    from consumers.settings import WorkerSettings
    from consumers.worker import run_groups
    from schemas.settings import load_settings

    settings = load_settings(WorkerSettings)
    port = args.metrics_port if args.metrics_port is not None else settings.http_port
    asyncio.run(run_groups(settings, [args.group], port))
    return 0


def _worker_settings() -> Any:
    from consumers.settings import WorkerSettings
    from schemas.settings import load_settings

    return load_settings(WorkerSettings)


def _cmd_stats(args: argparse.Namespace) -> int:
    from consumers.commands.ops import stats

    return stats(_worker_settings(), as_json=args.json)


def _cmd_dlq(args: argparse.Namespace) -> int:
    from consumers.commands import ops

    settings = _worker_settings()
    if args.action == "list":
        return ops.dlq_list(settings, limit=args.limit, as_json=args.json)
    if args.action == "show":
        return ops.dlq_show(settings, args.refs[0] if args.refs else "")
    return ops.dlq_replay(settings, args.refs or [], dry_run=args.dry_run)


def _cmd_metrics(args: argparse.Namespace) -> int:
    from consumers.commands.ops import metrics_export

    return metrics_export(_worker_settings(), Path(args.out), args.since, args.until)


def _cmd_replay(args: argparse.Namespace) -> int:
    from consumers.commands.replay import main as replay_main

    return replay_main(_worker_settings(), since=args.since, offsets=args.offsets, swap=args.swap,
                       drop_old=args.drop_old, dry_run=args.dry_run, fresh=args.fresh,
                       as_json=args.json)  # fmt: skip


def _cmd_memory(args: argparse.Namespace) -> int:
    from consumers.commands import memory

    settings = _worker_settings()
    if args.action == "search":
        if not args.text:
            raise SystemExit("tooltrail: error: memory search needs the text to search for")
        return memory.search(settings, " ".join(args.text), tool=args.tool, kind=args.kind,
                             k=args.k, as_json=args.json)  # fmt: skip
    if args.action == "stats":
        return memory.stats(settings, detailed=args.detailed, as_json=args.json)
    return memory.audit(settings, as_json=args.json)


def _cmd_up(args: argparse.Namespace) -> int:
    from consumers.commands.up import main as up_main

    rate = args.rate if args.rate is not None else (50.0 if args.events else 5.0)
    return up_main(data_dir=args.data_dir, demo=args.demo, events=args.events, as_json=args.json,
                   rate=rate, timeout=args.timeout)  # fmt: skip


def _cmd_demo(args: argparse.Namespace) -> int:
    from consumers.commands.demo import main as demo_main

    return demo_main(data_dir=args.data_dir, events=args.events, rate=args.rate)


def _positive(kind: type[float] | type[int]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="tooltrail", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tooltrail {_version()}")
    parser.add_argument("--log-level", default="INFO", help="stderr log level (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("schemas", help="JSON Schema snapshots of the wire models")
    p.add_argument("action", choices=["dump", "check"], help="write the files, or check drift")
    p.set_defaults(handler=_cmd_schemas)

    p = sub.add_parser("settings", help="validate and show the effective settings")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--markdown", action="store_true", help="print the README's settings table")
    p.set_defaults(handler=_cmd_settings)

    p = sub.add_parser("up", help="the whole pipeline: broker, chroma, every group, demo traffic")
    p.add_argument("--demo", action="store_true", help="drive demo tool calls over MCP stdio")
    p.add_argument(
        "--events",
        type=_positive(int),
        default=None,
        help="stop after N demo calls are processed by every group; print a summary",
    )
    p.add_argument("--json", action="store_true", help="no live view; print the summary as JSON")
    p.add_argument("--data-dir", default="tooltrail-data", help="chroma data, metrics, logs")
    p.add_argument(
        "--rate",
        type=_positive(float),
        default=None,
        help="demo calls per second (default 5; 50 with --events)",
    )
    p.add_argument("--timeout", type=float, default=600.0, help="with --events: give up after (s)")
    p.set_defaults(handler=_cmd_up)

    p = sub.add_parser("infra", help="run the embedded Kafka broker and chroma server")
    p.add_argument("--data-dir", default="tooltrail-data", help="where chroma data and logs go")
    p.add_argument("--kafka-port", type=int, default=None, help="default: a free port")
    p.add_argument("--chroma-port", type=int, default=None, help="default: a free port")
    p.set_defaults(handler=_cmd_infra)

    p = sub.add_parser("demo-server", help="serve the demo OpenShift tools over stdio (MCP)")
    p.add_argument("--sdk", choices=["mcp", "fastmcp"], default="mcp", help="MCP SDK to serve with")
    p.add_argument("--no-instrument", action="store_true", help="serve without tooltrail")
    p.set_defaults(handler=_cmd_demo_server)

    p = sub.add_parser("demo", help="drive demo tool calls into the configured Kafka")
    p.add_argument(
        "--events", type=_positive(int), default=None, help="stop after N calls (default: never)"
    )
    p.add_argument(
        "--rate", type=_positive(float), default=2.0, help="calls per second (default 2)"
    )
    p.add_argument("--data-dir", default="tooltrail-data", help="the demo server's outbox, logs")
    p.set_defaults(handler=_cmd_demo)

    p = sub.add_parser("worker", help="run consumer groups until SIGTERM/SIGINT")
    p.add_argument(
        "group",
        choices=["metrics", "memory", "enrich", "all"],
        help="which group ('all' = every group)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics, /healthz, /readyz here (default TOOLTRAIL_HTTP_PORT)",
    )
    p.set_defaults(handler=_cmd_worker)

    p = sub.add_parser("stats", help="lag per group and partition, dead-letter count")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_cmd_stats)

    p = sub.add_parser("dlq", help="inspect and re-publish dead letters")
    p.add_argument("action", choices=["list", "show", "replay"])
    p.add_argument("refs", nargs="*", help="partition:offset (show, replay) or 'all' (replay)")
    p.add_argument("--limit", type=int, default=100, help="list: newest N (default 100)")
    p.add_argument("--json", action="store_true", help="list: print JSON")
    p.add_argument("--dry-run", action="store_true", help="replay: only count")
    p.set_defaults(handler=_cmd_dlq)

    p = sub.add_parser("metrics", help="metrics records")
    p.add_argument("action", choices=["export"])
    p.add_argument("--out", required=True, help="JSON array file to write (atomically)")
    p.add_argument("--since", default=None, help="ISO time, inclusive")
    p.add_argument("--until", default=None, help="ISO time, exclusive")
    p.set_defaults(handler=_cmd_metrics)

    p = sub.add_parser("memory", help="search, count and audit the vector memories")
    p.add_argument("action", choices=["search", "stats", "audit"])
    p.add_argument("text", nargs="*", help="search: what to look for")
    p.add_argument("--tool", help="search: only this tool")
    p.add_argument(
        "--kind", choices=["tool_exec", "failure", "incident"], help="search: only this kind"
    )
    p.add_argument("--k", type=int, default=3, help="search: how many (default 3)")
    p.add_argument("--detailed", action="store_true", help="stats: per kind/tool, newest item")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_cmd_memory)

    p = sub.add_parser("replay", help="rebuild vector memories from the events topic")
    p.add_argument("target", choices=["memory"])
    start = p.add_mutually_exclusive_group()
    start.add_argument("--since", help="ISO time with zone: replay events appended after it")
    start.add_argument("--offsets", help="partition:offset[,...] to start from")
    p.add_argument("--swap", action="store_true", help="after verifying, make the rebuild live")
    p.add_argument("--drop-old", action="store_true", help="with --swap: delete the old ones")
    p.add_argument("--dry-run", action="store_true", help="only print the plan")
    p.add_argument("--fresh", action="store_true", help="ignore an interrupted replay's progress")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=_cmd_replay)

    p = sub.add_parser("bench", help="benchmarks: figures and ratios against a same-run baseline")
    p.add_argument(
        "target", choices=["emit", "metrics", "memory", "enrich"], help="what to measure"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--quick", action="store_true", help="smaller samples (smoke run)")
    p.set_defaults(handler=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tooltrail`` console script."""
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # data, logs and spill files hold tool data: owner only
    logs.configure(args.log_level)
    handler: Handler = args.handler
    try:
        return handler(args)
    except TooltrailError as exc:
        print(f"tooltrail: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
