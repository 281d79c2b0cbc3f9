"""Never partial, never slow, never raises: windows and cuts, adversarial input, odd values."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tests.data.secret_shapes import ALNUM, rnd
from tests.data.secrets import BENIGN_CASES, SECRET_CASES
from tooltrail.producer.calls import ToolCall, build_event, summarize_result
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas import REDACTED, RedactionLimits, redact, redact_text
from tooltrail.schemas.base import MAX_ERROR_SUMMARY_CHARS, MAX_SUMMARY_BYTES
from tooltrail.schemas.codec import encode
from tooltrail.schemas.events import MAX_ANCHOR_CHARS, Outcome
from tooltrail.schemas.redact.logfilter import LOG_LIMITS

SMALL = RedactionLimits(max_string=64)  # scan window: 64 + 8192 characters
#: ``(text planted, its secret part)``: formats whose prefix alone is not detectable.
STRADDLERS = [
    ("ghp_" + (s := rnd(ALNUM, 36)), s),
    (f"https://ops:{(p := rnd(ALNUM, 24))}@db.internal/x", p),
    (f"app:{(d := rnd(ALNUM, 20))}@tcp(db:3306)/pay", d),
    ("sk_live_" + (k := rnd(ALNUM, 40)), k),
    ("AKIA" + (a := rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 16)), a),
]


@pytest.mark.parametrize(("planted", "secret"), STRADDLERS)
def test_a_secret_crossing_the_scan_window_loses_every_prefix(planted: str, secret: str) -> None:
    window = SMALL.scan_window
    for offset in range(-len(planted) + 1, 4, 3):  # the window ends inside or just after it
        text = "x" * (window + offset - 1) + " " + planted + " tail " * 10
        for out in (redact_text(text, SMALL), redact({"v": text}, SMALL)):
            flat = orjson.dumps(out).decode()
            assert secret[:8] not in flat, (offset, flat[-120:])


@pytest.mark.parametrize(("planted", "secret"), STRADDLERS)
def test_a_secret_crossing_the_string_cut_is_redacted_before_the_cut(
    planted: str, secret: str
) -> None:
    for offset in range(-len(planted), 2, 5):
        out = redact("y" * (SMALL.max_string + offset) + " " + planted + " end", SMALL)
        assert isinstance(out, str)
        assert secret[:8] not in out
        assert out.startswith("y")
        assert len(out) <= SMALL.max_string + len("…(+99999 chars)")


def test_summaries_are_redacted_before_they_are_cut() -> None:
    secret = rnd(ALNUM, 36)  # a URL password: a cut before its "@" would hide what it is
    for pad in range(1380, 1560, 7):
        text = "z" * pad + f" https://ops:{secret}@db.internal/x"
        summary = summarize_result({"content": [{"type": "text", "text": text}]}, SMALL)
        assert summary is not None
        assert len(summary.encode()) <= MAX_SUMMARY_BYTES
        assert secret[:8] not in summary


def test_every_field_stays_within_its_wire_bound() -> None:
    wide = "é" * 5000 + " password=" + rnd(ALNUM, 20) + "\n" + "ü" * 5000
    call = ToolCall("t" * 300, {"a": wide}, "s" * 300)
    call.anchors.extend([wide] * 40)
    call.incident_id = wide
    call.finish(
        Outcome.TOOL_ERROR, error=wide, result={"content": [{"type": "text", "text": wide}]}
    )
    event = build_event(call, ProducerSettings())
    assert len((event.result_summary or "").encode()) <= MAX_SUMMARY_BYTES
    assert len(event.error_summary or "") <= MAX_ERROR_SUMMARY_CHARS
    assert all(len(a) <= MAX_ANCHOR_CHARS for a in event.anchors)
    assert len(event.anchors) == 32
    assert len(encode(event)) < 20_000


#: Repeated units: each input is built to fill a scan window exactly (and to overflow it).
ADVERSARIAL = [
    "a:",
    "=",
    "password=",
    "://",
    "-",
    "key",
    '"',
    "{",
    "@tcp(",
    "a:b@",
    "token ",
    '"\\',
    "- name: TOKEN\n  value:",
    "-----BEGIN PRIVATE KEY-----",
    "password: |\n  x\n",
    '\\"',
    "Authorization: Bearer ",
    "sk-",
    "ghp_",
    "1//0",
    "x",
    " ",
    "mysql -p ",
    "Q~",
    ":AA",
    "token_",
    "passwordxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "/a@",
    "apiVersion: v1\ndata:\n  a: b\n",
    "</password>",
    "<password>",
    "<password a='",
    "<![CDATA[",
    "$6$",
    "$2b$12$",
    "$argon2id$",
    "echo x ",
    "echo '",
    "| --password-stdin",
    "--password-stdin <<< ",
    "identified by ",
    "user identified by '",
    "password '",
    "htpasswd -b ",
    "openssl -k ",
    "rabbitmqctl add_user ",
    "X_PAT=",
    "PWD=",
    "pat",
    "dp.st.",
]


@pytest.mark.parametrize("unit", ADVERSARIAL, ids=repr)
def test_adversarial_input_is_handled_in_linear_time(unit: str) -> None:
    started = time.perf_counter()
    for limits in (RedactionLimits(), LOG_LIMITS):
        for size in (limits.scan_window - 8, 100_000):
            text = (unit * (size // len(unit) + 1))[:size]
            out = redact_text(text, limits)
            assert len(out) <= 11 * limits.scan_window  # a marker replaces at least one character
            redact({"v": text, "argv": text.split()[:200]}, limits)
    assert time.perf_counter() - started < 3.0  # generous: each pass is linear, this takes ms


def _texts() -> list[str]:
    texts = [c.payload for c in SECRET_CASES if isinstance(c.payload, str)]
    return texts + [b.payload for b in BENIGN_CASES if isinstance(b.payload, str)]


def test_redaction_is_idempotent() -> None:
    for text in _texts():
        once = redact_text(text)
        assert redact_text(once) == once, text
    for case in SECRET_CASES:
        once = redact(case.payload)
        assert redact(once) == once, case.family


class _Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class _BadMapping(dict[str, Any]):
    def items(self) -> Any:
        raise RuntimeError("no items")


def test_odd_values_never_raise() -> None:
    loop: list[Any] = []
    loop.append(loop)
    values = [
        _Hostile(),
        {"k": _Hostile()},
        loop,
        {1: 2, (1, 2): "x", None: 3},
        _BadMapping(a=1),
        2**200,
        float("inf"),
        b"\x00" * 5,
        "\ud800 token=abc123def",
        object(),
        {"password": _Hostile()},
        [[[[[[[["deep"]]]]]]]] * 3,
    ]
    for value in values:
        out = redact(value)
        orjson.dumps(out)
        orjson.dumps(redact_text(str(type(value))))
    assert redact({"password": _Hostile()}) == {"password": REDACTED}
