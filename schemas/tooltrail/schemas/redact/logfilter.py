"""``RedactingFilter``: the redaction engine over every log record a handler emits.

Install it on handlers (``handler.addFilter(RedactingFilter())``), not on loggers: a
handler filter sees records of every logger, third-party ones included (the MCP SDK logs
``Tool … failed: <error text>``). Per record it

* formats the message with its arguments and redacts the result (``msg`` becomes the
  redacted text, ``args`` is emptied, so no handler formats the raw arguments again);
* redacts the exception and stack text into ``exc_text``/``stack_info`` and drops
  ``exc_info`` (a formatter would otherwise render the raw exception again);
* redacts extra fields (``logger.info("…", extra={"token": …})``) with the key rules.

It never raises and never drops a record: whatever cannot be read is replaced by a marker.
A record is processed once, however many handlers share it.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from typing import Any

from tooltrail.schemas.redact.engine import RedactionLimits, redact, redact_text

#: Log messages and tracebacks may be longer than tool results; still bounded.
LOG_LIMITS = RedactionLimits(max_string=56 * 1024)
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
        record.msg = redact_text(_message(record), self.limits)
        record.args = None
        if record.exc_info or record.exc_text:
            text = record.exc_text or _format_exception(record.exc_info)
            record.exc_text = redact_text(text, self.limits) if text else text
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact_text(str(record.stack_info), self.limits)
        for name in [k for k in record.__dict__ if k not in _STANDARD]:
            value = record.__dict__[name]
            record.__dict__[name] = redact({name: value}, self.limits)
            if isinstance(record.__dict__[name], dict):
                record.__dict__[name] = record.__dict__[name].get(name)


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
