"""The log filter: third-party records come out redacted, and no record is lost or raises."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tooltrail.consumers.app import logs
from tooltrail.schemas.redact.logfilter import RedactingFilter

TOKEN = "ghp_" + "Qw3rTy9UiOp2AsDfGh4JkLzX7cVbNm1PoIuY"
PASSWORD = "hunter2-Xk9q"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger as ``app.logs.configure`` sets it up, writing to a buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("DEBUG", json=True)
    stream = io.StringIO()
    assert isinstance(root.handlers[0], logging.StreamHandler)
    root.handlers[0].setStream(stream)  # type: ignore[type-var]
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


def _fail(exc: Exception) -> None:
    raise exc


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_every_handler_configure_installs_carries_the_filter() -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        logs.configure("INFO", json=False)
        assert root.handlers
        assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in root.handlers)
    finally:
        root.handlers[:] = saved


def test_a_third_party_record_is_redacted_in_args_exception_and_extras(
    captured: io.StringIO,
) -> None:
    sdk = logging.getLogger("mcp.server.lowlevel")  # logs "Tool … failed: <error text>"
    sdk.error("Tool %s failed: %s", "deploy", f"registry rejected {TOKEN}")
    try:
        _fail(RuntimeError(f"connect postgres://app:{PASSWORD}@db/x"))
    except RuntimeError:
        sdk.exception("call failed", extra={"auth_token": PASSWORD, "attempt": 2})
    sdk.warning("headers %r", {"Authorization": f"Bearer {PASSWORD}", "Accept": "*/*"})
    out = captured.getvalue()
    assert TOKEN[4:12] not in out
    assert PASSWORD not in out
    first, second, third = _lines(captured)
    assert first["msg"] == "Tool deploy failed: registry rejected <redacted>"
    assert "RuntimeError: connect postgres://app:<redacted>@db/x" in second["exc"]
    assert (second["auth_token"], second["attempt"]) == ("<redacted>", 2)
    assert third["msg"] == "headers {'Authorization': '<redacted>', 'Accept': '*/*'}"


def test_plain_text_handlers_show_the_redacted_traceback(captured: io.StringIO) -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("tests.plain")
    log.addHandler(handler)
    try:
        try:
            _fail(ValueError(f"token={PASSWORD}"))
        except ValueError:
            log.exception("failed with password %s", PASSWORD)
    finally:
        log.removeHandler(handler)
    text = handler.stream.getvalue()
    assert PASSWORD not in text
    assert "ValueError: token=<redacted>" in text
    assert "failed with password <redacted>" in text


class _RawTraceback(logging.Formatter):
    """Like rich or Sentry handlers: renders ``exc_info`` itself, ignoring ``exc_text``."""

    def format(self, record: logging.LogRecord) -> str:
        tail = self.formatException(record.exc_info) if record.exc_info else ""
        return f"{record.getMessage()}\n{tail}"


def test_a_formatter_that_renders_the_exception_itself_sees_no_secret() -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(_RawTraceback())
    log = logging.getLogger("tests.raw")
    log.addHandler(handler)
    try:
        try:
            _fail(PermissionError(f"login -p {PASSWORD} refused"))
        except PermissionError:
            log.exception("oc login failed")
    finally:
        log.removeHandler(handler)
    assert PASSWORD not in handler.stream.getvalue()
    assert "oc login failed" in handler.stream.getvalue()


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


def test_odd_records_never_raise_and_are_never_dropped() -> None:
    flt = RedactingFilter()
    records = [
        logging.makeLogRecord({"msg": "%s %s", "args": ("only one",)}),  # bad format arguments
        logging.makeLogRecord({"msg": _Unprintable(), "args": None}),
        logging.makeLogRecord({"msg": "x", "exc_info": (None, None, None)}),
        logging.makeLogRecord({"msg": "x", "exc_info": "not a tuple", "stack_info": 3}),
        logging.makeLogRecord({"msg": "x", "extra_field": _Unprintable()}),
        logging.makeLogRecord({"msg": b"bytes password=hunter2", "args": {"a": 1}}),
        logging.makeLogRecord({"msg": "%(who)s", "args": ({"who": f"token={PASSWORD}"},)}),
    ]
    for record in records:
        assert flt.filter(record) is True
        assert flt.filter(record) is True  # a second handler: no double work, no error
        assert PASSWORD not in str(record.msg)
        logging.Formatter().format(record)


def test_records_stay_bounded_and_unchanged_when_clean(captured: io.StringIO) -> None:
    log = logging.getLogger("tests.clean")
    log.info("reconciled %d pods in %s", 12, "payments")
    log.info("x" * 200_000)
    clean, huge = _lines(captured)
    assert clean["msg"] == "reconciled 12 pods in payments"
    assert len(huge["msg"]) < 70_000


def test_the_engine_and_filter_import_nothing_heavy() -> None:
    code = (
        "import sys, tooltrail.producer, tooltrail.schemas.redact.logfilter; "
        "heavy = ('yaml', 'tooltrail.consumers', 'hypothesis', 'mcp'); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
