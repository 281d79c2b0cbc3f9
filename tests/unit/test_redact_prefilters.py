"""The cheap tests in front of the redaction rules give exactly the answers of the slow ones.

Each prefilter here skips work for text that holds nothing to redact; a prefilter that says
"clean" where its reference says otherwise would let a secret through, so each is held to
its reference on generated text: the run finder against the run regex, the grouped literal
test against one ``in`` per literal, the UTF-8 clip against its encoding, the timestamp
format against the ``astimezone`` path, the result texts against every text item, the
anchored word scanners against one ``in`` per word.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from tooltrail.producer.calls import summarize_result
from tooltrail.schemas.base import clip_utf8, iso_ms_z
from tooltrail.schemas.redact import redact_text
from tooltrail.schemas.redact.limits import DEFAULT_LIMITS
from tooltrail.schemas.redact.outputs import _FAMILIES, _HINTS
from tooltrail.schemas.redact.patterns import word_anchors, words_scanner
from tooltrail.schemas.redact.scan import (
    _GATE,
    _GATE_LITERALS,
    _GATE_TERMS,
    _LITERAL_GROUPS,
    lowercase,
    needs_scan,
)
from tooltrail.schemas.redact.vendors import (
    _BY_HEAD,
    _RUN,
    Runs,
    has_run_prefix,
    may_hold_run,
    runs_of,
)

#: Run characters, separators, the characters the literal groups key on, non-ASCII letters
#: (UTF-8 continuation bytes must not count as run characters) and a lone surrogate.
_CHARS = st.sampled_from(
    list("abcXYZ019_~.+-") + list(" \t\n=:/\"',;{}$@%") + ["é", "ß", "\u0131", "İ", "漢", "\ud800"]
)
_TEXT = st.lists(st.one_of(_CHARS, st.sampled_from(_GATE_LITERALS)), max_size=80).map("".join)


@settings(max_examples=600, deadline=None)
@given(_TEXT, st.integers(min_value=0, max_value=40))
def test_run_finder_agrees_with_the_run_regex(text: str, stretch: int) -> None:
    text = text + "k" * stretch  # some texts with a run at the end
    assert may_hold_run(text) == (_RUN.search(text) is not None)
    assert Runs(text).spans == [m.span() for m in _RUN.finditer(text)]


@settings(max_examples=600, deadline=None)
@given(_TEXT, st.sampled_from(["", "ghp_", "AKIA", "xoxb-", "sk_live_"]), st.booleans())
def test_run_prefix_test_agrees_with_the_runs_whatever_the_cache_holds(
    text: str, head: str, cached: bool
) -> None:
    text = text + (head + "A1b2" * 5 if head else "")
    runs = Runs(text)
    expected = bool(runs.bare) or any(text[a : a + 2] in _BY_HEAD for a, _ in runs.spans)
    runs_of(text if cached else text + " other")  # the one-slot cache: this text, or another
    assert has_run_prefix(text) == expected


@pytest.mark.parametrize("length", [14, 15, 16, 40])
def test_run_finder_at_the_length_bound(length: int) -> None:
    for char in "aZ9_~.+-":
        text = f"x: {char * length} é"
        assert may_hold_run(text) == (length >= 15)
    assert not may_hold_run("é" * 40)  # 80 bytes >= 0x80: no run character among them


def test_a_vendor_token_behind_non_ascii_text_is_still_found() -> None:
    text = "Übersicht ✓ token ghp_" + "A1b2" * 9
    assert has_run_prefix(text)
    assert "ghp_" not in redact_text(text)


def test_every_gate_literal_sits_in_one_group() -> None:
    grouped = [literal for _, members in _LITERAL_GROUPS for literal in members]
    assert sorted(grouped) == sorted(_GATE_LITERALS)
    for key, members in _LITERAL_GROUPS:
        assert all(key in literal for literal in members)  # the key test never hides one


@pytest.mark.parametrize("literal", _GATE_LITERALS)
def test_each_gate_literal_opens_the_scan(literal: str) -> None:
    text = f"NAME    STATUS\nplain row {literal} more words\n"
    assert needs_scan(text, lowercase(text))


@settings(max_examples=600, deadline=None)
@given(_TEXT)
def test_grouped_literals_agree_with_one_test_per_literal(text: str) -> None:
    grouped = any(
        key in text and any(literal in text for literal in members)
        for key, members in _LITERAL_GROUPS
    )
    assert grouped == any(literal in text for literal in _GATE_LITERALS)


_HINT_WORDS = tuple(hint for hint, _ in _FAMILIES)


def _word_text(words: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Text of the words' own characters, whole words and cut words (a word's head or tail
    alone must not open the scan), anywhere, the start and end of the text included."""
    chars = sorted({c for w in words for c in w} | set(" \n"))
    pieces = st.one_of(
        st.sampled_from(chars),
        st.sampled_from(words),
        st.sampled_from(words).flatmap(
            lambda w: st.integers(0, len(w)).map(lambda k, w=w: w[:k] if k % 2 else w[k:])
        ),
    )
    return st.lists(pieces, max_size=30).map("".join)


@pytest.mark.parametrize(("scanner", "words"), [(_GATE, _GATE_TERMS), (_HINTS, _HINT_WORDS)])
@settings(max_examples=800, deadline=None)
@given(data=st.data())
def test_word_scanners_agree_with_one_test_per_word(
    scanner: re.Pattern[str], words: tuple[str, ...], data: st.DataObject
) -> None:
    text = data.draw(_word_text(words))
    assert (scanner.search(text) is not None) == any(w in text for w in words), text


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="abkq-_ (", min_size=1, max_size=6), min_size=1, max_size=8),
    st.text(alphabet="abkq-_ (", max_size=40),
)
def test_any_word_list_scans_like_one_test_per_word(words: list[str], text: str) -> None:
    scanner = words_scanner(tuple(dict.fromkeys(words)))
    assert (scanner.search(text) is not None) == any(w in text for w in words)


def test_the_gate_words_are_anchored_on_rare_characters() -> None:
    """The scan tries a match only at anchor characters: none of them may be one of the
    letters most text is made of (a trie tries at every first letter: ``t`` of ``token``)."""
    anchors = {w[i] for w, i in word_anchors(_GATE_TERMS).items()}
    assert anchors.isdisjoint(set("etaoinsrhl")), anchors
    assert all(w[i] in anchors for w, i in word_anchors(_GATE_TERMS).items())


def test_a_word_list_without_words_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        words_scanner(("key", ""))


@settings(max_examples=600, deadline=None)
@given(st.text(max_size=700), st.integers(min_value=3, max_value=1600))
def test_clip_utf8_agrees_with_its_encoding(text: str, limit: int) -> None:
    clipped = clip_utf8(text, limit)
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        assert clipped == text
    else:
        assert len(clipped.encode("utf-8", "surrogatepass")) <= limit
        assert clipped.endswith("…")


@pytest.mark.parametrize(
    "zone",
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))],
)
def test_iso_ms_z_is_the_utc_time_in_every_zone(zone: timezone) -> None:
    moment = datetime(2026, 12, 6, 22, 59, 59, 999_999, tzinfo=UTC)
    local = moment.astimezone(zone)
    assert iso_ms_z(local) == "2026-12-06T22:59:59.999Z"


def test_iso_ms_z_of_a_parsed_utc_time() -> None:
    parsed = TypeAdapter(datetime).validate_python("2026-12-06T22:59:59.999999Z")
    assert parsed.tzinfo is not UTC  # pydantic's own UTC object: the astimezone path
    assert iso_ms_z(parsed) == "2026-12-06T22:59:59.999Z"


def test_summary_reads_text_and_resource_items_of_dicts_and_objects() -> None:
    wire = {
        "content": [
            {"type": "text", "text": "first"},
            {"type": "resource", "resource": {"uri": "file:///x", "text": "second"}},
            {"type": "image", "data": "AAAA"},
        ]
    }
    assert summarize_result(wire, DEFAULT_LIMITS) == "first\nsecond"
    objects = SimpleNamespace(
        content=[
            SimpleNamespace(text="one"),
            SimpleNamespace(text=None, resource=SimpleNamespace(text="two")),
        ]
    )
    assert summarize_result(objects, DEFAULT_LIMITS) == "one\ntwo"
    single = {"content": [{"type": "text", "text": "token=abc123verysecretvalue"}]}
    assert "abc123verysecretvalue" not in (summarize_result(single, DEFAULT_LIMITS) or "")
