"""Property: a secret of any family, planted at any depth, position and case in any field of
a tool call, never reaches the encoded event (nor does its first 8 characters)."""

from __future__ import annotations

import json
import string
from typing import Any

import orjson
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.unit.test_redact_corpus import fastmcp_result
from tooltrail.producer.calls import ToolCall, build_event
from tooltrail.producer.settings import ProducerSettings
from tooltrail.schemas.codec import encode
from tooltrail.schemas.events import Outcome

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"
SETTINGS = ProducerSettings()
Planted = tuple[Any, str]  # (what is planted: text or a structure, the secret part)


def _tok(alphabet: str, lo: int, hi: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=lo, max_size=hi or lo)


def _case(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.title(), word.replace("_", "-")])


VENDOR = st.one_of(
    _tok(string.ascii_uppercase + string.digits, 16).map(lambda s: ("AKIA" + s, s)),
    st.tuples(st.sampled_from("pousr"), _tok(ALNUM, 36)).map(lambda p: (f"gh{p[0]}_{p[1]}", p[1])),
    _tok(B64URL, 20, 40).map(lambda s: ("glpat-" + s, s)),
    _tok(ALNUM, 24, 60).map(lambda s: ("xoxb-" + s, s)),
    _tok(ALNUM, 24, 99).map(lambda s: ("sk_live_" + s, s)),
    _tok(B64URL, 35).map(lambda s: ("AIza" + s, s)),
    _tok(B64URL, 30, 120).map(lambda s: ("ya29." + s, s)),
    _tok(ALNUM, 48).map(lambda s: ("sk-" + s, s)),
    _tok(B64URL, 40, 120).map(lambda s: ("sk-proj-" + s, s)),
    _tok(B64URL, 40, 100).map(lambda s: ("sk-ant-api03-" + s, s)),
    _tok(ALNUM, 34).map(lambda s: ("hf_" + s, s)),
    _tok(ALNUM, 36).map(lambda s: ("npm_" + s, s)),
    _tok(B64URL, 43).map(lambda s: ("sha256~" + s, s)),
    _tok("0123456789abcdef", 64).map(lambda s: ("dop_v1_" + s, s)),
    _tok(ALNUM, 24).map(lambda s: ("https://hooks.slack.com/services/T0/B0/" + s, s)),
    st.tuples(_tok(B64URL, 8, 40), _tok(B64URL, 10, 60)).map(
        lambda p: (f"eyJ{p[0]}.eyJ{p[1]}.sig{p[0]}", p[1])
    ),
    _tok(ALNUM + "+/", 40, 200).map(
        lambda s: (f"-----BEGIN EC PRIVATE KEY-----\n{s}\n-----END EC PRIVATE KEY-----", s)
    ),
)
SECRET_VALUE = _tok(ALNUM, 10, 30).filter(lambda s: any(c.isdigit() for c in s[:8]))
KEYS = st.sampled_from(
    [
        "password",
        "db_password",
        "api_key",
        "client_secret",
        "auth_token",
        "AccountKey",
        "ssh_key",
        "master_key",
        "license_key",
        "signature",
        "private_key",
        "x-api-key",
        "access_token",
    ]
).flatmap(_case)
TEXT_PAIRS = st.tuples(KEYS, st.sampled_from(["=", ": ", " = ", '": "', "="]), SECRET_VALUE).map(
    lambda p: (f"{p[0]}{p[1]}{p[2]}", p[2])
)
URLS = st.tuples(_tok(ALNUM, 4, 12), st.sampled_from("/@"), _tok(ALNUM, 4, 12)).map(
    lambda p: (f"postgres://app:{p[0]}{p[1]}{p[2]}@db:5432/x", f"{p[0]}{p[1]}{p[2]}")
)
CONN = st.tuples(st.sampled_from(["AccountKey", "Password", "SharedAccessKey"]), SECRET_VALUE).map(
    lambda p: (f"Endpoint=sb://x/;{p[0]}={p[1]};EntityPath=q", p[1])
)
DSN = SECRET_VALUE.map(lambda s: (f"app:{s}@tcp(db:3306)/pay", s))
ARGV_TEXT = st.tuples(
    st.sampled_from(
        [
            "mysql -uroot -p",
            "sshpass -p ",
            "redis-cli -a ",
            "app --client-secret ",
            "oc login -u a -p ",
        ]
    ),
    SECRET_VALUE,
).map(lambda p: (p[0] + p[1], p[1]))
PROSE = st.tuples(
    st.sampled_from(["password ", "the password is ", "API key: ", "Password: "]), SECRET_VALUE
).map(lambda p: (p[0] + p[1], p[1]))
TEXTS = st.one_of(VENDOR, TEXT_PAIRS, URLS, CONN, DSN, ARGV_TEXT, PROSE)
STRUCTS = st.one_of(
    st.tuples(KEYS, SECRET_VALUE).map(lambda p: ({p[0]: p[1]}, p[1])),
    st.tuples(
        st.sampled_from(["AWS_SECRET_ACCESS_KEY", "Authorization", "GITHUB_TOKEN"]), SECRET_VALUE
    ).map(lambda p: ([{"name": p[0], "value": p[1]}], p[1])),
    SECRET_VALUE.map(lambda s: (["mysql", "-u", "root", "-p" + s], s)),
    SECRET_VALUE.map(lambda s: (["app", "--password", s], s)),
    SECRET_VALUE.map(lambda s: ({"kind": "Secret", "data": {"x": s}}, s)),
)
SEPARATORS = st.sampled_from([" ", "\n", "\t", ", ", "; ", "(", ") ", "'", '"'])
NOISE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=4,
)
FIELDS = ["args", "text", "wire", "structured", "fastmcp", "error", "anchor", "incident"]


@st.composite
def planted_text(draw: st.DrawFn) -> Planted:
    """A text secret between two random texts, at a random position."""
    text, secret = draw(TEXTS)
    before = draw(st.text(max_size=60)) + draw(SEPARATORS)
    after = draw(SEPARATORS) + draw(st.text(max_size=60))
    return before + text + after, secret


@st.composite
def nested(draw: st.DrawFn, leaf: Any) -> Any:
    """Wrap ``leaf`` in up to four random lists/dicts with noise siblings."""
    value = leaf
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            value = [*draw(st.lists(NOISE, max_size=2)), value]
        else:
            value = {
                **draw(st.dictionaries(st.text(max_size=6), NOISE, max_size=2)),
                draw(st.sampled_from(["data", "spec", "items", "x"])): value,
            }
    return value


def _call(field: str, text: str, structure: Any) -> ToolCall:
    call = ToolCall("oc_read_logs", {"namespace": "ci"}, "sess-1")
    result: Any = {"content": [{"type": "text", "text": "ok"}]}
    error = None
    if field == "args":
        call.args = {"q": text, "nested": structure}
    elif field == "text":
        result = text
    elif field == "wire":
        result = {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": text}]}
    elif field == "structured":
        result = {"content": [], "structuredContent": {"r": structure, "t": text}}
    elif field == "fastmcp":
        result = fastmcp_result(text)
    elif field == "error":
        error = text
    elif field == "anchor":
        call.anchors.extend(["ns:ci", text[:150]])
    else:
        call.incident_id = text
    return call.finish(Outcome.TOOL_ERROR if error else Outcome.OK, error=error, result=result)


PAYLOAD_FIELDS = ("args", "resultSummary", "errorSummary", "anchors", "incidentId")


@settings(max_examples=600, deadline=None)
@given(data=st.data(), field=st.sampled_from(FIELDS))
def test_no_planted_secret_reaches_the_encoded_event(data: st.DataObject, field: str) -> None:
    text, secret = data.draw(planted_text())
    leaf, secret2 = data.draw(STRUCTS)
    structure = data.draw(nested(leaf))
    dumped = json.dumps(structure, default=str)
    assume(text.count(secret[:8]) == 1 and secret[:8] not in dumped)  # noise must not repeat it
    assume(dumped.count(secret2[:8]) == 1 and secret2[:8] not in text)
    if field == "anchor":
        assume(secret in text[:150])
    wire = orjson.loads(encode(build_event(_call(field, text, structure), SETTINGS)))
    payload = orjson.dumps([wire[name] for name in PAYLOAD_FIELDS]).decode()
    assert secret[:8] not in payload, (field, secret, payload)
    assert secret2[:8] not in payload, (field, secret2, payload)
