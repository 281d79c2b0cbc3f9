"""``tooltrail worker``: run consumer groups until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
from typing import Any

from tooltrail.consumers.app.commands import add, port, worker_settings
from tooltrail.consumers.runtime.groups import GROUPS, run_groups


def register(commands: Any) -> None:
    """``tooltrail worker metrics|memory|enrich|all``."""
    p = add(
        commands,
        "worker",
        "run consumer groups until SIGTERM/SIGINT",
        "Run one group (metrics, memory, enrich) or all of them in this process until "
        "SIGTERM or Ctrl-C (then: finish or abandon the batch within "
        "TOOLTRAIL_SHUTDOWN_GRACE_S, commit, leave the group). With --metrics-port, serve "
        "/metrics, /healthz and /readyz.",
    )
    p.add_argument("group", choices=[*GROUPS, "all"], help="which group ('all' = every group)")
    p.add_argument(
        "--metrics-port",
        type=port,
        default=None,
        help="serve /metrics, /healthz, /readyz here (default TOOLTRAIL_HTTP_PORT)",
    )
    p.set_defaults(handler=_run)


def _run(args: Any) -> int:
    settings = worker_settings()
    http = args.metrics_port if args.metrics_port is not None else settings.http_port
    asyncio.run(run_groups(settings, [args.group], http))
    return 0
