"""Redaction: no planted secret survives, ordinary data does, and every bound holds."""

from __future__ import annotations

import json
import string
from typing import Any

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tooltrail.schemas import REDACTED, RedactionLimits, is_sensitive_key, redact
from tooltrail.schemas.redact.keys import inherit_keeps

B64URL = string.ascii_letters + string.digits + "-_"
UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits


def _tok(alphabet: str, lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=lo, max_size=hi)


# each strategy yields (text as it would appear, the secret part that must not survive)
PLANTED = st.one_of(
    _tok(UPPER_DIGITS, 16, 16).map(lambda s: ("AKIA" + s, "AKIA" + s)),
    st.tuples(_tok(B64URL, 8, 40), _tok(B64URL, 8, 60), _tok(B64URL, 8, 40)).map(
        lambda p: (f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}", f"{p[1]}.{p[2]}")
    ),
    _tok(ALNUM + "-._~+/", 12, 60).map(lambda s: (f"Authorization: Bearer {s}", s)),
    _tok(ALNUM + "+/", 40, 200).map(
        lambda s: (f"-----BEGIN RSA PRIVATE KEY-----\n{s}\n-----END RSA PRIVATE KEY-----", s)
    ),
    _tok(ALNUM + "!%^*(", 10, 30).map(lambda s: (f"postgresql://app:{s}@db.internal:5432/x", s)),
    st.tuples(
        st.sampled_from(["password", "PASSWORD", "api_key", "client-secret", "token"]),
        st.sampled_from(["=", ": ", " = "]),
        _tok(ALNUM, 10, 30),
    ).map(lambda p: (f"{p[0]}{p[1]}{p[2]}", p[2])),
    _tok(ALNUM, 36, 36).map(lambda s: ("ghp_" + s, s)),
    _tok(B64URL, 43, 43).map(lambda s: ("sha256~" + s, s)),
    _tok(ALNUM, 24, 40).map(lambda s: ("xoxb-" + s, s)),
)

NOISE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=5,
)
SEPARATORS = st.sampled_from([" ", "\n", "\t", "'", '"', ", ", "(", ") ", "; "])


@st.composite
def nested_with(draw: st.DrawFn, leaf: Any, describing_keys: bool = True) -> Any:
    """Wrap ``leaf`` in up to four random lists/dicts with noise siblings.

    ``describing_keys=False`` never puts ``leaf`` under a key that only describes (``name``,
    ``namespace``, ``secretName``): inside a redacted container those are kept on purpose.
    """
    value = leaf
    keys = st.text(min_size=1, max_size=10)
    if not describing_keys:
        keys = keys.filter(lambda k: not inherit_keeps(k))
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            value = [*draw(st.lists(NOISE, max_size=3)), value, *draw(st.lists(NOISE, max_size=2))]
        else:
            noise = draw(st.dictionaries(st.text(max_size=8), NOISE, max_size=3))
            value = {**noise, draw(keys): value}
    return value


def _leaks(secret: str, output: Any) -> bool:
    return secret in orjson.dumps(output).decode()


def _occurrences(secret: str, structure: Any) -> int:
    return json.dumps(structure, ensure_ascii=False).count(secret)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_no_planted_secret_survives_in_nested_strings(data: st.DataObject) -> None:
    text, secret = data.draw(PLANTED)
    before = data.draw(st.text(max_size=40)) + data.draw(SEPARATORS)
    after = data.draw(SEPARATORS) + data.draw(st.text(max_size=40))
    leaf = before + text + after
    structure = data.draw(nested_with(leaf))
    assume(_occurrences(secret, structure) == 1)  # noise must not repeat it
    assert not _leaks(secret, redact(structure))


SENSITIVE_KEYS = st.sampled_from(
    [
        "password",
        "Password",
        "DB_PASSWORD",
        "db.password",
        "passwd",
        "secret",
        "clientSecret",
        "client-secret",
        "token",
        "auth_token",
        "X-Auth-Token",
        "access_token",
        "Authorization",
        "authorization",
        "cookie",
        "Set-Cookie",
        "api_key",
        "API-KEY",
        "apiKey",
        "x-api-key",
        "private_key",
        "privateKey",
        "credentials",
        "aws_secret_access_key",
        "auth",
        "AUTH",
    ]
)


@pytest.mark.parametrize("describing", ["namespace", "NAMESPACE", "name", "secretName", "key"])
def test_inside_a_sensitive_container_what_only_describes_is_kept(describing: str) -> None:
    out = redact({"password": {describing: "db-credentials", "value": "Zq81mKp2Xw"}})
    assert out == {"password": {describing: "db-credentials", "value": REDACTED}}


@settings(max_examples=300, deadline=None)
@given(key=SENSITIVE_KEYS, secret=_tok(ALNUM, 12, 30), data=st.data())
def test_values_under_sensitive_keys_never_survive(
    key: str, secret: str, data: st.DataObject
) -> None:
    value = data.draw(nested_with(secret, describing_keys=False))
    structure = data.draw(nested_with({key: value, "namespace": "prod"}))
    assume(_occurrences(secret, structure) == 1)  # noise must not repeat it
    out = redact(structure)
    assert not _leaks(secret, out)
    assert REDACTED in orjson.dumps(out).decode()


def test_ordinary_arguments_are_kept_verbatim() -> None:
    args = {
        "namespace": "openshift-etcd",
        "selector": "app=web,tier!=db",
        "limit": 50,
        "follow": False,
        "author": "ops-team",
        "keys": ["a", "b"],
        "ratio": 0.5,
    }
    assert redact(args) == args


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("Authorization", True),
        ("x-api-key", True),
        ("DB_Password", True),
        ("oauth", True),
        ("namespace", False),
        ("author", False),
        ("monkey", False),
        ("pod_name", False),
    ],
)
def test_sensitive_key_detection(key: str, sensitive: bool) -> None:
    assert is_sensitive_key(key) is sensitive


def test_secret_straddling_the_string_limit_is_not_half_exposed() -> None:
    limits = RedactionLimits(max_string=64)
    secret = "AKIA" + "Q" * 16
    out = redact("x" * 58 + " " + secret + " tail", limits)
    assert isinstance(out, str)
    assert "AKIAQQ" not in out
    assert "QQQQQQ" not in out


def test_bounds_on_depth_width_strings_and_total_size() -> None:
    limits = RedactionLimits(max_depth=3, max_items=5, max_string=10, max_nodes=20)
    deep: Any = "leaf"
    for _ in range(10):
        deep = [deep]
    assert "nested too deep" in orjson.dumps(redact(deep, limits)).decode()
    wide = redact(list(range(100)), limits)
    assert isinstance(wide, list)
    assert wide[:5] == [0, 1, 2, 3, 4]
    assert wide[5] == "…(+95 more items)"
    long = redact("y" * 100, limits)
    assert long == "y" * 10 + "…(+90 chars)"
    huge = redact({f"k{i}": list(range(5)) for i in range(5)} | {"more": [[1] * 5] * 5}, limits)
    assert "<truncated>" in orjson.dumps(huge).decode()


def test_non_json_values_become_safe_text() -> None:
    class Conn:
        def __repr__(self) -> str:
            return "Conn(dsn='mysql://root:hunter22@db/x')"

    out = redact({"blob": b"\x00" * 10, "conn": Conn(), "nan": float("nan"), "tags": {"a"}})
    assert out == {
        "blob": "<10 bytes>",
        "conn": f"Conn(dsn='mysql://root:{REDACTED}@db/x')",
        "nan": "nan",
        "tags": ["a"],
    }
    assert redact([2**70, -(2**70), 2**63]) == [str(2**70), str(-(2**70)), 2**63]
