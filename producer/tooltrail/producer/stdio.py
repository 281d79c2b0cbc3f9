"""``TOOLTRAIL_STRICT_STDIO_LOGS``: no log handler may write to stdout in a tool server.

A stdio MCP server speaks its protocol on stdout; one log line there corrupts the stream.
When the setting is on (the default), ``TrailProducer.start`` moves every logging handler
that writes to stdout (``sys.stdout``, ``sys.__stdout__`` or file descriptor 1) to stderr and
says so once on stderr.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


def _writes_to_stdout(stream: Any) -> bool:
    if stream is None:
        return False
    if stream is sys.stdout or stream is sys.__stdout__:
        return True
    with contextlib.suppress(Exception):
        return bool(stream.fileno() == 1)
    return False


def _handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    return [h for lg in loggers for h in lg.handlers]


def keep_logs_off_stdout() -> int:
    """Point every stdout logging handler at stderr; return how many were moved."""
    moved = 0
    for handler in _handlers():
        if isinstance(handler, logging.StreamHandler) and _writes_to_stdout(handler.stream):
            handler.setStream(sys.stderr)
            moved += 1
    if moved:
        log.warning(
            "tooltrail: moved %d log handler(s) from stdout to stderr "
            "(TOOLTRAIL_STRICT_STDIO_LOGS)",
            moved,
        )
    return moved
