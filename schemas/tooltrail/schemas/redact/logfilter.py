"""``RedactingFilter``: the redaction engine over every log record a handler emits.

Install it on handlers (``handler.addFilter(RedactingFilter())``): a handler filter sees
records of every logger, third-party ones included. ``redact_loggers()`` puts it on the MCP
SDKs' loggers (``mcp``, ``fastmcp``) and those they log failures through (the ASGI server's,
``asyncio``'s), on every existing logger below them and on their handlers; the producer
calls it when it starts, so ``Tool … failed: <error text>`` is redacted whatever handlers
the tool server configured. A logger created later gets no filter of its own: its records
are redacted by the filter of a handler they reach, or call ``redact_loggers`` again. Per
record it

* formats the message with its arguments and redacts the result (``msg`` becomes the
  redacted text, ``args`` is emptied, so no handler formats the raw arguments again);
* redacts the exception and stack text into ``exc_text``/``stack_info`` and drops
  ``exc_info`` (a formatter would otherwise render the raw exception again);
* redacts extra fields (``logger.info("…", extra={"token": …})``) with the key rules.

It never raises and never drops a record: whatever cannot be read is replaced by a marker.
A record is processed once, however many handlers and loggers share it, within one redaction
budget (``TOOLTRAIL_REDACT_MAX_SCAN_CHARS``, ``TOOLTRAIL_REDACT_MAX_CPU_MS``): past it the
rest of the record is masked.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from tooltrail.schemas.redact.engine import RedactionLimits, redact, redact_text

#: Log messages and tracebacks may be longer than tool results; still bounded.
LOG_LIMITS = RedactionLimits(max_string=56 * 1024)
#: The MCP SDKs' loggers and what they log failures through (ASGI servers, asyncio tasks).
SDK_LOGGERS = ("mcp", "fastmcp", "uvicorn.error", "starlette", "sse_starlette", "asyncio")
_INSTALL_LOCK = threading.Lock()
MARK = "_tooltrail_redacted"
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", MARK}


class RedactingFilter(logging.Filter):
    """A handler filter that redacts secrets from each record (see module docstring)."""

    def __init__(self, limits: RedactionLimits = LOG_LIMITS) -> None:
        super().__init__()
        self.limits = limits

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always keep it."""
        if getattr(record, MARK, False):
            return True
        try:
            self._redact(record)
        except Exception:  # noqa: BLE001 - a log filter must never break logging
            _replace(record, "<log record not redactable>")
        with contextlib.suppress(Exception):  # an odd record type: at worst redacted twice
            setattr(record, MARK, True)
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        limits = self.limits.with_budget()  # one budget for the whole record
        record.msg = redact_text(_message(record), limits)
        record.args = None
        if record.exc_info or record.exc_text:
            text = record.exc_text or _format_exception(record.exc_info)
            record.exc_text = redact_text(text, limits) if text else text
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact_text(str(record.stack_info), limits)
        for name in [k for k in record.__dict__ if k not in _STANDARD]:
            value = record.__dict__[name]
            record.__dict__[name] = redact({name: value}, limits)
            if isinstance(record.__dict__[name], dict):
                record.__dict__[name] = record.__dict__[name].get(name)


def redact_loggers(
    names: Iterable[str] = SDK_LOGGERS, limits: RedactionLimits | None = None
) -> int:
    """Put one ``RedactingFilter`` on each named logger, every existing logger below it and
    their handlers (idempotent; see module docstring). Returns how many filters it added.

    ``limits`` sets the per-record budget (default: ``LOG_LIMITS``); never raises.
    """
    chosen = LOG_LIMITS
    if limits is not None:
        chosen = replace(chosen, max_scan_chars=limits.max_scan_chars, max_cpu_ms=limits.max_cpu_ms)
    added = 0
    try:
        with _INSTALL_LOCK:
            for logger in _loggers_under(tuple(names)):
                for holder in (logger, *logger.handlers):
                    if not any(isinstance(f, RedactingFilter) for f in holder.filters):
                        holder.addFilter(RedactingFilter(chosen))
                        added += 1
    except Exception:  # noqa: BLE001, S110 - logging set-up must never fail the tool server
        pass
    return added


def _loggers_under(names: tuple[str, ...]) -> list[logging.Logger]:
    found = [logging.getLogger(name) for name in names]
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.startswith(tuple(n + "." for n in names)):
            found.append(logger)
    return found


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - bad format arguments: keep what can be shown
        try:
            return f"{record.msg!s} (unformattable arguments: {record.args!r})"
        except Exception:  # noqa: BLE001
            return "<unformattable log message>"


def _format_exception(exc_info: Any) -> str:
    try:
        return "".join(traceback.format_exception(*exc_info)).rstrip("\n")
    except Exception:  # noqa: BLE001 - a broken exception object still gets logged
        return "<unformattable exception>"


def _replace(record: logging.LogRecord, text: str) -> None:
    with contextlib.suppress(Exception):  # nothing more can be done with this record
        record.msg, record.args, record.exc_info, record.exc_text = text, None, None, None
