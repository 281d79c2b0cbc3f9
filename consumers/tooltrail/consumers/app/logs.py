"""JSON-lines logging to stderr for entry points (never stdout: it may carry a protocol).

Every handler installed here carries ``RedactingFilter``: records of any logger, third-party
ones included, are redacted by the producer's engine before they are written.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from tooltrail.schemas.redact.logfilter import MARK, RedactingFilter

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", MARK}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one JSON line."""
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        return orjson.dumps(data, default=str).decode()


def configure(level: str = "INFO", json: bool = True) -> None:
    """Send the root logger to stderr, as JSON lines unless ``json`` is False; redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json else logging.Formatter("%(levelname)s %(message)s")
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(max(root.level, logging.WARNING))
