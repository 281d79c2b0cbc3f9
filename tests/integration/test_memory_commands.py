"""``tooltrail memory search|stats|audit`` against a real chroma server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import Names
from tests.factories import make_event
from tests.integration.test_memory_worker import varied_events
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.consumers.memory.chroma import close_client, open_client
from tooltrail.consumers.memory.embedders import HashingEF
from tooltrail.consumers.memory.records import to_memory
from tooltrail.consumers.memory.situations import situation_of
from tooltrail.consumers.runtime.runner import Delivered
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.consumers.sinks.memory import MemorySink
from tooltrail.schemas.events import Tags

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


def _cli(env: dict[str, str], *args: str) -> tuple[int, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "tooltrail.consumers.app.cli", "memory", *args, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert out.stdout, out.stderr.decode()[-2000:]
    return out.returncode, orjson.loads(out.stdout)


async def test_search_stats_and_audit(names: Names, chroma: ChromaServer, tmp_path: Path) -> None:
    settings = WorkerSettings(
        chroma_url=chroma.url, chroma_collection=names.collection, embedder="hashing"
    )
    failures = [
        ("oc_read_describe_pod", "container api OOMKilled exit code 137", "default"),
        ("oc_read_logs", "connection refused to 10.0.0.5:5432", "default"),
        ("oc_read_events", "FailedScheduling: 0/3 nodes available: insufficient cpu", "default"),
        ("oc_read_logs", "connection refused to 10.0.0.9:5432", "prod"),
    ]
    events = varied_events(12) + [
        make_event(tool_id=t, outcome="tool_error", error_summary=e, tags=Tags(environment=env))
        for t, e, env in failures
    ]
    sink = MemorySink(settings, HashingEF())
    await sink.start()
    await sink.write([Delivered(e, 0, i) for i, e in enumerate(events)])
    await sink.close()
    env = {
        "PATH": "",
        "HOME": str(tmp_path),
        "TOOLTRAIL_CHROMA_URL": chroma.url,
        "TOOLTRAIL_CHROMA_COLLECTION": names.collection,
        "TOOLTRAIL_EMBEDDER": "hashing",
    }

    code, hits = _cli(env, "search", "describe pod web-7 not found", "--kind", "failure")
    assert code == 0
    assert len(hits) == 3
    assert hits[0]["id"] == situation_of(events[7]).id
    assert hits[0]["occurrences"] == 4  # web-1, web-4, web-7, web-10: one situation
    assert {h["kind"] for h in hits} == {"failure"}
    assert len({h["id"] for h in hits}) == len({h["summary"] for h in hits}) == 3  # distinct
    code, hits = _cli(env, "search", "anything", "--tool", "oc_read_describe_pod", "--k", "10")
    assert {h["tool"] for h in hits} == {"oc_read_describe_pod"}
    assert len(hits) == 2
    code, hits = _cli(env, "search", "refused", "--environment", "prod", "--kind", "failure")
    assert [h["id"] for h in hits] == [situation_of(events[-1]).id]

    code, stats = _cli(env, "stats", "--detailed")
    info = stats[names.collection]
    assert info["count"] == 7  # 16 calls, 7 situations
    assert info["kinds"] == {"tool_exec": 1, "failure": 5, "incident": 1}
    assert info["embedder"] == "tooltrail_hashing/hashing-384-v1"

    code, report = _cli(env, "audit")
    assert (code, report["ok"], report["missing"]) == (0, True, [])

    client = open_client(chroma.url)
    try:
        collection = client.get_collection(names.collection)
        good = collection.get(ids=[situation_of(events[2]).id], include=["metadatas"])
        bad_meta = dict(to_memory(events[0]).metadata, kind="mystery")
        collection.upsert(
            ids=["not-a-memory-id", to_memory(events[1]).id + "x", "sit-forged"],
            embeddings=HashingEF()(["a", "b", "c"]),
            metadatas=[bad_meta, {"kind": "failure"}, dict(good["metadatas"][0])],
        )
    finally:
        close_client(client)
    code, report = _cli(env, "audit")
    assert code == 1
    assert report["ok"] is False
    problems = report["items"][names.collection]
    assert problems["bad"] == 3
    text = str(problems["examples"])
    assert "kind 'mystery' is not one of" in text
    assert "metadata 'tool' missing" in text
    assert "situation id shape" in text
