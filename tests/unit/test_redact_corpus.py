"""The corpus through the producer: no planted secret reaches the encoded event, every
benign look-alike comes out unchanged, and the corpus covers every family."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from tests.data.secrets import BENIGN_CASES, SECRET_CASES, Benign, Case
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.base import first_line
from tooltrail.schemas.codec import decode, encode
from tooltrail.schemas.events import Outcome, ToolExecutionEvent

SETTINGS = ProducerSettings(environment="test")
FAMILIES = {"vendor", "key", "nv", "conn", "argv", "prose", "result", "pem", "incident"}


def fastmcp_result(text: str | None, structured: Any = None) -> Any:
    """A stand-in for fastmcp's ``ToolResult`` (``.content`` objects with ``.text``)."""
    content = [SimpleNamespace(type="text", text=text)] if text is not None else []
    return SimpleNamespace(content=content, structured_content=structured, is_error=False)


def event_for(where: str, payload: Any) -> ToolExecutionEvent:
    """Build the event of a call that carries ``payload`` in the field ``where`` names."""
    call = ToolCall("oc_read_get_pods", {"namespace": "ci"}, "sess-1")
    result: Any = {"content": [{"type": "text", "text": "ok"}], "isError": False}
    error = None
    if where == "args":
        call.args = payload
    elif where == "text":
        result = {"content": [{"type": "text", "text": payload}], "isError": False}
    elif where == "structured":
        result = {"content": [], "structuredContent": payload, "isError": False}
    elif where == "fastmcp":
        result = fastmcp_result(payload)
    elif where == "value":
        result = payload
    elif where == "error":
        error = payload
    elif where == "anchor":
        call.anchors.append(payload)
    elif where == "incident":
        call.incident_id = payload
    call.finish(Outcome.TOOL_ERROR if error else Outcome.OK, error=error, result=result)
    return build_event(call, SETTINGS)


def leaked(secret: str, wire: bytes) -> bool:
    """The secret or its first 8 characters, as written or JSON-escaped, in the wire bytes."""
    text = wire.decode()
    plain = orjson.dumps(orjson.loads(wire), option=orjson.OPT_INDENT_2).decode()
    escaped = orjson.dumps(secret).decode()[1:-1]
    return any(s in t for s in (secret, secret[:8], escaped[:8]) for t in (text, plain))


@pytest.mark.parametrize("case", SECRET_CASES, ids=lambda c: f"{c.family}/{c.where}")
def test_no_planted_secret_reaches_the_wire(case: Case) -> None:
    wire = encode(event_for(case.where, case.payload))
    assert decode(wire, ToolExecutionEvent)  # still a valid event
    for secret in case.secrets:
        assert not leaked(secret, wire), (case.family, case.carrier, secret)


def _unchanged(benign: Benign, event: ToolExecutionEvent) -> bool:
    payload = benign.payload
    if benign.where == "args":
        return event.args == payload
    if benign.where == "text":
        return event.result_summary == payload
    if benign.where in ("structured", "value"):
        return orjson.loads(event.result_summary or "null") == payload
    if benign.where == "error":
        return event.error_summary == first_line(payload)
    if benign.where == "anchor":
        return payload in event.anchors
    return bool(event.incident_id == payload)


@pytest.mark.parametrize("benign", BENIGN_CASES, ids=lambda b: f"{b.carrier}/{b.where}")
def test_benign_look_alikes_come_out_unchanged(benign: Benign) -> None:
    event = event_for(benign.where, benign.payload)
    assert _unchanged(benign, event), event.model_dump(mode="json")


def test_the_corpus_covers_every_family_and_carrier() -> None:
    secrets = [s for case in SECRET_CASES for s in case.secrets]
    assert len(secrets) >= 150
    assert len(set(secrets)) == len(secrets)
    assert len(BENIGN_CASES) >= 40
    assert {case.family.split(":")[0] for case in SECRET_CASES} == FAMILIES
    wheres = {case.where for case in SECRET_CASES}
    assert wheres == {
        "args",
        "text",
        "structured",
        "fastmcp",
        "value",
        "error",
        "anchor",
        "incident",
    }
    assert all(len(s) >= 10 for s in secrets)


def test_fastmcp_results_and_structured_content_are_redacted() -> None:
    token, secret = "sha256~" + "Zq3" * 15, "Zq3" * 15
    result = fastmcp_result(None, {"kubeconfig": {"users": [{"user": {"token": "x" + secret}}]}})
    call = ToolCall("t", {}, "s").finish(Outcome.OK, result=result)
    summary = build_event(call, SETTINGS).result_summary or ""
    assert secret not in summary
    assert orjson.loads(summary) == {"kubeconfig": {"users": [{"user": {"token": "<redacted>"}}]}}
    call = ToolCall("t", {}, "s").finish(Outcome.OK, result=fastmcp_result(f"login {token}"))
    assert build_event(call, SETTINGS).result_summary == "login <redacted>"
