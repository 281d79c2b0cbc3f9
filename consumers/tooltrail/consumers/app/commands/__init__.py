"""One module per CLI command; each registers its sub-command and wires library parts.

A command module has ``register(commands)``: it adds its parser(s) with ``add`` and sets a
``handler`` (``argparse.Namespace -> int``). Handlers raise ``UsageError`` or
``SettingsError`` for what the user typed (exit 2) and let runtime failures propagate; the
CLI turns every failure into one line on stderr.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from typing import Any, NoReturn

import orjson

from tooltrail.consumers.errors import UsageError
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.config import load_settings


class _Defaults(argparse.HelpFormatter):
    """Shows ``(default: X)`` where a default says something (not for flags and unset)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += " (default: %(default)s)"
        return text


#: ``-1:0`` is a (bad) PARTITION:OFFSET the user typed, not an unknown option: argparse only
#: takes ``-1`` and ``-.5`` for values by itself.
_NEGATIVE = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d+:")


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (exit 2) and shows defaults.

    With ``json_errors`` set (the command line has ``--json``), the error is also printed on
    stdout as ``{"error": …, "exitCode": 2}`` for the script that reads it.
    """

    json_errors = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Defaults)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message (see 'prog --help')`` and exit 2."""
        line = f"{self.prog}: error: {message} (see '{self.prog} --help')"
        if Parser.json_errors:
            print_json_error(line, 2)
        self.exit(2, line + "\n")


def print_json_error(line: str, code: int) -> None:
    """The error of a ``--json`` command, as one JSON object on stdout."""
    print(orjson.dumps({"error": line, "exitCode": code}).decode(), file=sys.stdout, flush=True)


Commands = "argparse._SubParsersAction[Parser]"


def add(commands: Any, name: str, summary: str, details: str = "") -> Parser:
    """Add a sub-command with a one-line summary (its help) and a longer description."""
    parser: Parser = commands.add_parser(name, help=summary, description=details or summary)
    return parser


def subcommands(parser: Parser, dest: str) -> Any:
    """Nested sub-commands of ``parser`` (required)."""
    return parser.add_subparsers(dest=dest, required=True, metavar="COMMAND")


def worker_settings() -> WorkerSettings:
    """The workers' settings from the environment (``SettingsError`` names bad variables)."""
    return load_settings(WorkerSettings)


def _number(text: str, kind: type[int] | type[float], what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if value <= 0 or value != value or value == float("inf"):  # NaN is not equal to itself
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def positive_int(text: str) -> int:
    """An argument that must be a whole number above 0."""
    return int(_number(text, int, "a whole number"))


def positive_float(text: str) -> float:
    """An argument that must be a number above 0."""
    return float(_number(text, float, "a number"))


def nonblank(text: str) -> str:
    """An argument that must hold something besides white space."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is empty: give some text")
    return text


def port(text: str) -> int:
    """An argument that must be a TCP port."""
    value = positive_int(text)
    if value > 65_535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return value


def iso_time(text: str, flag: str) -> datetime:
    """``text`` as an aware time, or a ``UsageError`` naming ``flag`` and the expected form."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not an ISO 8601 time (e.g. 2026-11-23T10:00:00Z)"
        ) from None
    if value.tzinfo is None:
        raise UsageError(f"{flag} {text!r} needs a timezone (e.g. 2026-11-23T10:00:00Z)")
    return value
