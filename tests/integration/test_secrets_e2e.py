"""Secrets planted in real MCP calls reach nothing outside the tool server.

The demo server runs over real stdio with the official SDK's client; secrets ride in the
arguments (a token, a password in a selector, a GitHub token inside a wrongly typed argument
whose validation error echoes it), in results (a Secret manifest with base64 data, logs with
a bearer token) and in errors (an RBAC refusal naming the caller's token). The events then
go through every consumer group into metrics files and a real Chroma. None of the secrets —
nor the base64 they travel in, nor an 8-character prefix — may appear on any topic, in any
metrics file, in Chroma, on any process's stderr, or in any log file; the files are private.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import KafkaEndpoint, Names
from tests.integration.test_up import assert_private
from tests.kafka_helpers import read_all, wait_for
from tests.processes import worker, worker_env
from tooltrail.consumers.app.demo.tools import demo_secret
from tooltrail.consumers.app.launcher import ChromaServer
from tooltrail.consumers.kafka.topics import TopicSpec, ensure_topics
from tooltrail.consumers.memory.chroma import close_client, open_client
from tooltrail.consumers.sinks.metrics import segments

pytestmark = pytest.mark.integration
GITHUB = "ghp_" + "Q7x" * 12
TOKEN = "sha256~" + "kQ9vZ" * 8 + "abc"
#: Issue #27: a 4 KB run of blanks after a key-like word (the hostile shape that used to
#: freeze the tool server), a secret behind ANSI colours, and a Vault unseal key.
ANSI_SECRET = "Zq8Wv3Lx9Rt2Np5Kd7Hj"
UNSEAL = "c3VwZXItc2VjcmV0LXVuc2VhbC1rZXktMQ9x"
HOSTILE = "password:" + " " * 4000 + "x"
COLOURED = f"\x1b[32mapi_key\x1b[0m=\x1b[1m{ANSI_SECRET}\x1b[0m"
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("oc_read_get_pods", {"namespace": "payments", "auth_token": TOKEN}),
    ("oc_read_get_pods", {"namespace": "checkout", "selector": "app=api,password=Hunter2Secret99"}),
    ("oc_read_get_pods", {"namespace": ["payments", GITHUB]}),  # the SDK's error echoes input
    ("oc_read_get_secret", {"namespace": "payments", "name": "db-creds"}),
    ("oc_read_get_secret", {"namespace": "payments", "name": "forbidden-admin"}),
    ("oc_read_logs", {"namespace": "payments", "pod": "web-1", "tail": 3}),
    ("oc_read_get_pods", {"namespace": "vault", "selector": HOSTILE}),
    ("oc_read_get_pods", {"namespace": "vault", "selector": COLOURED}),
    ("oc_read_get_pods", {"namespace": "vault", "selector": f"Unseal Key 1: {UNSEAL}"}),
]


def _secrets() -> list[str]:
    creds, refused = demo_secret("db-creds"), demo_secret("forbidden-admin")
    pem_body = creds["pem"].splitlines()[1]
    values = [
        TOKEN,
        GITHUB,
        "Hunter2Secret99",
        creds["password"],
        pem_body[:40],
        refused["token"],
        "sk-demo0leak0token0000",
        ANSI_SECRET,
        UNSEAL,
    ]
    values += [base64.b64encode(v.encode()).decode() for v in (creds["password"], creds["pem"])]
    return values


async def _call_demo(env: dict[str, str], errlog: Path) -> list[bool]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    argv = ["-m", "tooltrail.consumers.app.cli", "demo-server", "--sdk", "mcp"]
    params = StdioServerParameters(command=sys.executable, args=argv, env=env)
    errors = []
    with errlog.open("w") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            for name, arguments in CALLS:
                errors.append(bool((await session.call_tool(name, arguments)).is_error))
    return errors


@pytest.mark.timeout(300)
async def test_secrets_in_calls_reach_no_topic_file_store_or_log(
    kafka: KafkaEndpoint, chroma: ChromaServer, names: Names, tmp_path: Path
) -> None:
    env = worker_env(kafka.bootstrap, names, tmp_path, chroma.url)
    env.update(
        TOOLTRAIL_OUTBOX_DIR=str(tmp_path / "outbox"),
        TOOLTRAIL_DEMO_LATENCY_SCALE="0",
        TOOLTRAIL_LOG_LEVEL="DEBUG",
    )  # every log line the code has
    await ensure_topics({"bootstrap_servers": kafka.bootstrap}, [TopicSpec(names.events, 3)])
    errors = await _call_demo(env, tmp_path / "server.stderr")
    assert errors[:6] == [False, False, True, False, True, False]  # the last two: either way
    with worker("all", env, tmp_path / "worker.stderr") as w:
        group = env["TOOLTRAIL_MEMORY_GROUP"]
        await wait_for(
            lambda: w.metric("tooltrail_written_total", group=group) == len(CALLS),
            90,
            "every call in every sink",
        )
        await wait_for(
            lambda: (
                sum(len(p.read_bytes().splitlines()) for p in segments(tmp_path / "metrics"))
                == len(CALLS)
            ),
            30,
            "every metrics record",
        )
        assert w.stop()[0] == 0
    seen = await _everything(kafka.bootstrap, names, chroma.url, tmp_path)
    assert "oc_read_get_secret" in seen  # the haystack is the real one
    leaked = [s for s in _secrets() for probe in (s, s[:8]) if probe in seen]
    where = [seen[max(seen.find(s[:8]) - 300, 0) : seen.find(s[:8]) + 60] for s in leaked]
    assert leaked == [], f"leaked: {leaked} in {where}"
    assert_private(tmp_path / "metrics", at_least=2)
    assert_private(tmp_path / "outbox", at_least=1)


async def _everything(bootstrap: str, names: Names, chroma_url: str, root: Path) -> str:
    """Every byte tooltrail put anywhere: topics, files, Chroma, stderr and logs."""
    parts = []
    for topic in (names.events, names.dlq, names.enrichment, names.events + ".status"):
        for r in await read_all(bootstrap, topic):
            parts += [r.key or b"", r.value or b"", *(v for _, v in r.headers or ())]
    files = await asyncio.to_thread(lambda: [p for p in root.rglob("*") if p.is_file()])
    parts += [p.read_bytes() for p in files]  # metrics, stderr, outbox
    client = open_client(chroma_url)
    try:
        got = client.get_collection(names.collection).get(include=["documents", "metadatas"])
    finally:
        close_client(client)
    parts += [orjson.dumps(got["documents"]), orjson.dumps(got["metadatas"])]
    return b"\n".join(parts).decode(errors="replace")
