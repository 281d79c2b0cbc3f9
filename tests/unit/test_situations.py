"""Situations: normalization, salience, identity, short embedding texts, linear time."""

from __future__ import annotations

import time
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import make_event
from tooltrail.consumers.memory.normalize import normalize
from tooltrail.consumers.memory.situations import salient_line, situation_id, situation_of
from tooltrail.schemas.events import Tags

LOG = (
    "{ts} INFO starting payments-api pod {pod} on node ip-10-0-{n}-7\n"
    "{ts} INFO connected to {ip}:5432 request_id={rid} in {ms}ms\n"
    "{ts} WARN GC pause {ms}ms\n"
    "{ts} ERROR java.lang.OutOfMemoryError: Java heap space (request {rid})\n"
)


def _log(ts: str, pod: str, ip: str, rid: str, ms: int, n: int) -> str:
    return LOG.format(ts=ts, pod=pod, ip=ip, rid=rid, ms=ms, n=n)


pods = st.tuples(
    st.text("bcdfghjklmnpqrstvwxz2456789", min_size=9, max_size=10).filter(
        lambda s: any(c.isdigit() for c in s)
    ),
    st.text("bcdfghjklmnpqrstvwxz2456789", min_size=5, max_size=5),
).map(lambda t: f"payments-api-{t[0]}-{t[1]}")
ips = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
stamps = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
rids = st.uuids().map(str) | st.text("0123456789abcdef", min_size=12, max_size=32).filter(
    lambda s: any(c.isdigit() for c in s)
)


def _event(pod: str, ip: str, ts: str, rid: str, ms: int = 12, **kw: object) -> object:
    return make_event(
        tool_id="oc_read_logs",
        outcome="tool_error",
        error_summary=f"pod {pod} exited",
        args={"namespace": "payments", "pod": pod},
        result_summary=_log(ts, pod, ip, rid, ms, 3),
        **kw,
    )


@settings(max_examples=60, deadline=None)
@given(pods, pods, ips, ips, stamps, stamps, rids, rids, st.integers(1, 99_999))
def test_events_differing_only_in_pod_ip_time_and_request_id_are_one_situation(
    pod1: str, pod2: str, ip1: str, ip2: str, ts1: str, ts2: str, r1: str, r2: str, ms: int
) -> None:
    a = _event(pod1, ip1, ts1, r1)
    b = _event(pod2, ip2, ts2, r2, ms=ms, session_id="another-session")
    assert situation_id(a) == situation_id(b)  # type: ignore[arg-type]
    sa, sb = situation_of(a), situation_of(b)  # type: ignore[arg-type]
    assert sa == situation_of(a)  # type: ignore[arg-type]  # deterministic
    assert sa.signature == sb.signature
    assert sa.embedding_text == sb.embedding_text
    assert "OutOfMemoryError" in sa.salient
    assert "OutOfMemoryError" in sa.signature


@settings(max_examples=30, deadline=None)
@given(pods, ips, stamps, rids)
def test_other_errors_environments_tools_or_outcomes_are_other_situations(
    pod: str, ip: str, ts: str, rid: str
) -> None:
    base = situation_id(_event(pod, ip, ts, rid))  # type: ignore[arg-type]
    other_error = make_event(
        tool_id="oc_read_logs",
        outcome="tool_error",
        error_summary=f"pod {pod} exited",
        args={"namespace": "payments", "pod": pod},
        result_summary=_log(ts, pod, ip, rid, 3, 3).replace(
            "java.lang.OutOfMemoryError: Java heap space", "connection refused by db"
        ),
    )
    dev = _event(pod, ip, ts, rid, tags=Tags(environment="dev"))
    other_ns = make_event(
        tool_id="oc_read_logs",
        outcome="tool_error",
        error_summary=f"pod {pod} exited",
        args={"namespace": "checkout", "pod": pod},
        result_summary=_log(ts, pod, ip, rid, 3, 3),
    )
    ids = {base, situation_id(other_error), situation_id(dev), situation_id(other_ns)}  # type: ignore[arg-type]
    assert len(ids) == 4


def test_the_cause_at_a_logs_tail_leads_summary_and_embedding_text() -> None:
    head = "\n".join(f"2026-01-01T00:00:{i:02d}Z INFO processed batch {i}" for i in range(30))
    event = make_event(
        tool_id="oc_read_logs",
        outcome="ok",
        args={"namespace": "payments", "pod": "api-7d9f8b6c5d-x2k4p"},
        result_summary=head + "\nException in thread main java.lang.OutOfMemoryError: heap\n",
    )
    rec = situation_of(event)
    assert rec.document.startswith("oc_read_logs ok: Exception in thread main java.lang.OutOfM")
    assert "OutOfMemoryError" in rec.embedding_text
    assert rec.salient.startswith("Exception in thread main")


def test_a_routine_success_is_tool_ok_on_its_context() -> None:
    a = make_event(
        args={"namespace": "shop", "pod": "web-6b7c8d9f5-bcdfg"}, result_summary="3 pods Running"
    )
    b = make_event(
        args={"namespace": "shop", "pod": "web-6b7c8d9f5-zx2qw"}, result_summary="2 pods Running"
    )
    ra, rb = situation_of(a), situation_of(b)
    assert ra.id == rb.id
    assert ra.kind == "tool_exec"
    assert ra.signature == "ok: <n> pods Running on namespace=shop pod=web-<id>-<id>"
    assert ra.embedding_text == "oc_read_get_pods ok: ok: pods Running on namespace=shop pod=web"
    assert salient_line(a) == ""
    assert ra.id.startswith("sit-")
    assert len(ra.id) == 20
    other = make_event(args={"namespace": "shop"}, result_summary="deployment scaled")
    assert situation_of(other).id != ra.id


def test_normalization_keeps_codes_and_words() -> None:
    text = (
        "HTTP 503 from 10.2.3.4:8080 after 250ms; exit code 137 OOMKilled at 2026-11-23T10:00:03Z"
    )
    assert normalize(text) == "HTTP 503 from <ip> after <n>ms; exit code 137 OOMKilled at <ts>"
    assert normalize("Back-off restarting failed container") == (
        "Back-off restarting failed container"
    )


def test_embedding_texts_are_short_in_minilm_tokens() -> None:
    """Median at most 64 MiniLM tokens on the retrieval set; none near the 256 cut."""
    from tooltrail.consumers.app.bench.retrieval_data import DISTRACTORS, GROUPS, event_of
    from tooltrail.consumers.memory.embedders import minilm_token_counts

    calls = [c for group in GROUPS.values() for c in group] + list(DISTRACTORS.values())
    texts = [situation_of(event_of(c)).embedding_text for c in calls]
    texts.append(situation_of(make_event(result_summary="x " * 700)).embedding_text)
    counts = sorted(minilm_token_counts(texts))
    assert counts[len(counts) // 2] <= 64
    assert counts[-1] <= 128


def _cost(fn: Callable[[str], object], text: str) -> int:
    best = 1 << 62
    for _ in range(3):
        start = time.thread_time_ns()
        fn(text)
        best = min(best, time.thread_time_ns() - start)
    return best


def test_normalization_is_linear_on_hostile_input() -> None:
    """Cost at 4n against n: linear is about 4x, quadratic 16x; judged at 100 KB."""
    shapes = [
        lambda n: "1" * n,
        lambda n: "a1-" * (n // 3),
        lambda n: "1." * (n // 2),
        lambda n: "1:" * (n // 2),
        lambda n: "ab12cd34" * (n // 8),
        lambda n: "<n>." * (n // 4),
        lambda n: "x " * (n // 2),
        lambda n: "bcdfg-" * (n // 6),
    ]
    fn = lambda text: normalize(text, limit=len(text))  # noqa: E731
    for make in shapes:
        ratios = []
        for _ in range(3):
            small, large = _cost(fn, make(25_000)), _cost(fn, make(100_000))
            ratios.append(large / max(small, 1))
            if ratios[-1] < 8:
                break
        assert min(ratios) < 8, (make(12), ratios)


def test_retrieval_on_situations_keeps_recall_and_is_distinct() -> None:
    from tooltrail.consumers.app.bench import retrieval_situations

    result = retrieval_situations.run()
    calls, sits = result["per_call"], result["per_situation"]
    assert sits["recall_at_3"] >= calls["recall_at_3"]  # must not drop
    assert calls["distinct_top3_share"] < 1.0  # per call, one situation fills several places
    assert sits["median_tokens"] < calls["median_tokens"]
