"""What one message may cost: depth, values, items and strings bounded before parsing.

The scan of the raw bytes must agree exactly with the counts of the parsed document (a
reference computed here by walking it), at every limit, for JSON written with any
whitespace and escapes, with brackets, quotes and backslashes inside strings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tracemalloc
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_event
from tooltrail.schemas import SchemaDecodeError, ToolExecutionEvent, encode
from tooltrail.schemas.bounds import (
    DEFAULT_LIMITS,
    DecodeLimits,
    contract_note,
    over_limits,
    repair_lone_surrogates,
)
from tooltrail.schemas.codec import (
    MAX_REASON_BYTES,
    _location,
    decode,
    decode_batch,
    decode_one,
)
from tooltrail.schemas.jsonschemas import generate


def _written(text: str, ascii_only: bool) -> int:
    return len(json.dumps(text, ensure_ascii=ascii_only).encode()) - 2


def _counts(value: Any, ascii_only: bool, depth: int = 1) -> tuple[int, int, int, int]:
    """(depth, values, widest array/object, longest string as written) of a parsed value."""
    if isinstance(value, str):
        return depth - 1, 1, 0, _written(value, ascii_only)
    if isinstance(value, dict):
        children = [_counts(v, ascii_only, depth + 1) for v in value.values()]
        keys = max((_written(k, ascii_only) for k in value), default=0)
    elif isinstance(value, list):
        children = [_counts(v, ascii_only, depth + 1) for v in value]
        keys = 0
    else:
        return depth - 1, 1, 0, 0
    return (
        max([depth, *(c[0] for c in children)]),
        1 + sum(c[1] for c in children),
        max([len(children), *(c[2] for c in children)]),
        max([keys, *(c[3] for c in children)]),
    )


def _within(counts: tuple[int, int, int, int], limits: DecodeLimits) -> bool:
    depth, values, widest, longest = counts
    return (
        depth <= limits.max_depth
        and values <= limits.max_nodes
        and widest <= limits.max_items
        and longest <= limits.max_string_bytes
    )


TRICKY_TEXT = st.text(alphabet=st.sampled_from('ab"\\[]{},: \n\t\u00e9\U0001f600'), max_size=12)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TRICKY_TEXT,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(TRICKY_TEXT, children, max_size=6)
    ),
    max_leaves=40,
)
LIMITS = st.builds(
    DecodeLimits,
    max_depth=st.integers(1, 8),
    max_nodes=st.integers(1, 40),
    max_items=st.integers(1, 8),
    max_string_bytes=st.integers(0, 30),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=JSON_VALUES,
    limits=LIMITS,
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
)
def test_the_byte_scan_agrees_with_the_parsed_document(
    value: Any, limits: DecodeLimits, indent: int | None, ascii_only: bool
) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode()
    reason = over_limits(text, limits)
    counts = _counts(value, ascii_only)
    assert (reason is None) == _within(counts, limits), (reason, counts)


@pytest.mark.parametrize(
    ("text", "limits", "fragment"),
    [
        (b"[" * 129 + b"]" * 129, DEFAULT_LIMITS, "nested 129 levels deep, over the 128-level"),
        (b"[" + b"{}," * 20_000 + b"{}]", DEFAULT_LIMITS, "20002 values, over the 20000-value"),
        (b"[" + b"0," * 10_000 + b"0]", DEFAULT_LIMITS, "an array or object of over 10000 items"),
        (b'["' + b"x" * 101 + b'"]', DecodeLimits(max_string_bytes=100), "a string of 101 bytes"),
        (b'{"' + b"k" * 101 + b'":1}', DecodeLimits(max_string_bytes=100), "a string of 101"),
        (b"[" + b'"a",' * 40_001 + b'"a"]', DEFAULT_LIMITS, "40002 strings, over the 20000-value"),
    ],
)
def test_each_limit_is_refused_just_past_it_with_the_cause_first(
    text: bytes, limits: DecodeLimits, fragment: str
) -> None:
    reason = over_limits(text, limits)
    assert reason is not None
    assert reason.startswith(fragment.split(",")[0])
    assert fragment in reason


@pytest.mark.parametrize(
    "text",
    [
        b"[" * 128 + b"]" * 128,
        b"[[" + b"{}," * 9_998 + b"{}],[" + b"{}," * 9_997 + b"{}]]",  # 20,000 values
        b"[" + b"0," * 9_999 + b"0]",
        b'["' + b"[{," * 100_000 + b'"]',  # structure inside a string is text
        b'["' + b'\\\\\\"[' * 50_000 + b'"]',  # escaped backslashes and quotes
    ],
)
def test_each_limit_itself_is_accepted(text: bytes) -> None:
    assert orjson.loads(text) is not None
    assert over_limits(text) is None


def _event_with_args(args_json: bytes) -> bytes:
    return encode(make_event())[:-1] + b',"args":{"a":' + args_json + b"}}"


def test_args_nest_to_the_stated_limit_and_one_more_is_refused() -> None:
    # the message object is level 1, args level 2, its value "a" level 3
    deepest = _event_with_args(b"[" * 126 + b"]" * 126)
    event = decode(deepest, ToolExecutionEvent)
    assert "a" in event.args
    result = decode_one(_event_with_args(b"[" * 127 + b"]" * 127), ToolExecutionEvent)
    assert isinstance(result, SchemaDecodeError)
    assert result.reason == "nested 129 levels deep, over the 128-level limit"


def test_the_snapshots_state_the_limits_the_reader_applies() -> None:
    note = contract_note()
    assert "deeper than 128 levels" in note
    assert "over 20000 values" in note
    assert "over 10000 items" in note
    for data in generate().values():
        assert note in orjson.loads(data)["$comment"]


def test_a_million_empty_objects_cost_a_scan_not_the_objects() -> None:
    hostile = _event_with_args(b"[" + b"{}," * 349_000 + b"{}]")
    assert len(hostile) < 1_048_576
    tracemalloc.start()
    try:
        result = decode_one(hostile, ToolExecutionEvent)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, SchemaDecodeError)
    assert result.reason.startswith("3490")
    assert result.reason.endswith(" values, over the 20000-value limit")
    assert peak < 4 * len(hostile)  # it was ~48x the message before the limits


def test_a_lone_surrogate_escape_is_read_as_a_replacement_character() -> None:
    wire = orjson.loads(encode(make_event()))
    wire["errorSummary"] = "cut here"
    wire["args"] = {"note": "x"}
    text = orjson.dumps(wire)
    text = text.replace(b'"cut here"', b'"cut here\\ud83d"').replace(b'"x"', b'"\\udc00y"')
    event = decode(text, ToolExecutionEvent)
    assert event.error_summary == "cut here\ufffd"
    assert event.args == {"note": "\ufffdy"}


@pytest.mark.parametrize(
    ("text", "repaired"),
    [
        (rb'"a\ud83d"', rb'"a\ufffd"'),
        (rb'"\ud83d\ude00"', rb'"\ud83d\ude00"'),  # a whole pair is kept
        (rb'"\uD83D\uDE00"', rb'"\uD83D\uDE00"'),
        (rb'"\\ud83d"', rb'"\\ud83d"'),  # an escaped backslash, then text
        (rb'"\\\ud83d"', rb'"\\\ufffd"'),
        (rb'"\ude00\ud83d"', rb'"\ufffd\ufffd"'),  # low then high: two lone halves
    ],
)
def test_only_lone_surrogate_escapes_are_repaired(text: bytes, repaired: bytes) -> None:
    assert repair_lone_surrogates(text) == repaired
    orjson.loads(repaired)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_what_json_stringify_writes_for_a_string_cut_inside_an_emoji_is_accepted() -> None:
    wire = orjson.loads(encode(make_event()))
    script = (
        "const e = JSON.parse(process.argv[1]);"
        "e.errorSummary = 'pod crashed 😀'.slice(0, -1);"  # cuts the emoji in half
        "process.stdout.write(JSON.stringify(e));"
    )
    written = subprocess.run(
        ["node", "-e", script, orjson.dumps(wire).decode()],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    assert b"\\ud83d" in written
    assert decode(written, ToolExecutionEvent).error_summary == "pod crashed \ufffd"


def test_a_long_location_keeps_its_head_and_tail() -> None:
    where = _location(("args", "a", *[0, "x"] * 300, "leaf"))
    assert len(where) <= 80
    assert where.startswith("args.*.0")
    assert "(603 levels)" in where


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.none()
        | st.binary(max_size=200)
        | st.text(max_size=50)
        | st.integers()
        | st.builds(lambda n: b"[" * n, st.integers(0, 3000))
        | st.builds(lambda v: json.dumps(v).encode(), JSON_VALUES)
        | st.just(encode(make_event())),
        max_size=8,
    )
)
def test_decode_batch_turns_anything_into_events_or_reasons(values: list[Any]) -> None:
    results = decode_batch(values, ToolExecutionEvent)
    assert len(results) == len(values)
    for result in results:
        assert isinstance(result, ToolExecutionEvent | SchemaDecodeError)
        if isinstance(result, SchemaDecodeError):
            assert 0 < len(result.reason.encode()) <= MAX_REASON_BYTES
            assert "\n" not in result.reason
