"""``tooltrail memory search|stats|audit``: look into the vector memories."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from tooltrail.consumers.app.commands import (
    add,
    nonblank,
    positive_int,
    subcommands,
    worker_settings,
)
from tooltrail.consumers.app.commands.memory_common import client_for as _client
from tooltrail.consumers.app.commands.memory_common import dump as _dump
from tooltrail.consumers.app.commands.memory_search import search
from tooltrail.consumers.memory.chroma import close_client
from tooltrail.consumers.memory.embedders import embedder_id, make_embedder
from tooltrail.consumers.memory.situations import SCHEMA
from tooltrail.consumers.memory.store import KINDS, collection_names
from tooltrail.consumers.observability.status import RESET_ADVICE
from tooltrail.consumers.settings import WorkerSettings
from tooltrail.schemas.ids import MEMORY_ID_PATTERN, memory_id

SITUATION_ID = re.compile(r"sit-[0-9a-f]{16}")
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "kind": str,
    "tool": str,
    "outcome": str,
    "opType": str,
    "severity": str,
    "domain": str,
    "environment": str,
    "sessionId": str,
    "timestamp": str,
    "ts": int,
    "eventId": str,
}


def _items(collection: Any, page: int = 1000) -> Iterator[tuple[str, dict[str, Any]]]:
    offset = 0
    while True:
        got = collection.get(limit=page, offset=offset, include=["metadatas"])
        if not got["ids"]:
            return
        yield from zip(got["ids"], got["metadatas"], strict=True)
        offset += len(got["ids"])


def stats(settings: WorkerSettings, *, detailed: bool, as_json: bool) -> int:
    """Per collection: count and embedder; with ``detailed``, counts per kind/tool and newest."""
    client = _client(settings)
    out: dict[str, Any] = {}
    try:
        existing = {c.name for c in client.list_collections()}
        for name in sorted(set(collection_names(settings).values()) & existing):
            col = client.get_collection(name)
            info: dict[str, Any] = {
                "count": col.count(),
                "embedder": (col.metadata or {}).get("embedder"),
            }
            if reset := (col.metadata or {}).get("resetDetectedAt"):
                info["reset_detected_at"] = reset
                info["advice"] = RESET_ADVICE
            if detailed:
                kinds: Counter[str] = Counter()
                tools: Counter[str] = Counter()
                newest = ""
                for _, meta in _items(col):
                    kinds[str(meta.get("kind"))] += 1
                    tools[str(meta.get("tool"))] += 1
                    newest = max(newest, str(meta.get("lastSeen") or meta.get("timestamp", "")))
                info.update(
                    kinds=dict(kinds), tools=dict(tools.most_common(20)), newest=newest or None
                )
            out[name] = info
    finally:
        close_client(client)
    if as_json:
        _dump(out)
        return 0
    for name, info in out.items():
        print(f"{name}: {info['count']} memories, embedder {info['embedder']}")
        if info.get("reset_detected_at"):
            when = info["reset_detected_at"]
            print(f"  wiped or recreated under a worker at {when}: {RESET_ADVICE}")
        for key in ("kinds", "tools"):
            if key in info:
                print(f"  {key}: " + ", ".join(f"{k}={v}" for k, v in info[key].items()))
        if info.get("newest"):
            print(f"  newest: {info['newest']}")
    return 0


SITUATION_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "kind": str,
    "tool": str,
    "outcome": str,
    "environment": str,
    "domain": str,
    "signature": str,
    "salient": str,
    "occurrences": int,
    "firstTs": int,
    "lastTs": int,
    "ts": int,
    "lastSeen": str,
    "eventIds": str,
}


def _situation_problems(item_id: str, meta: dict[str, Any]) -> list[str]:
    problems = [
        f"metadata {key!r} missing or not {t.__name__ if isinstance(t, type) else t}"
        for key, t in SITUATION_REQUIRED.items()
        if not isinstance(meta.get(key), t)
    ]
    if meta.get("kind") not in KINDS:
        problems.append(f"kind {meta.get('kind')!r} is not one of {list(KINDS)}")
    if not SITUATION_ID.fullmatch(item_id):
        problems.append("id does not have the situation id shape (sit-<16 hex>)")
    elif not problems and int(meta["occurrences"]) < 1:
        problems.append("occurrences below 1")
    return problems


def _item_problems(item_id: str, meta: dict[str, Any]) -> list[str]:
    if meta.get("schema") == SCHEMA:
        return _situation_problems(item_id, meta)
    problems = [
        f"metadata {key!r} missing or not {t.__name__ if isinstance(t, type) else t}"
        for key, t in REQUIRED.items()
        if not isinstance(meta.get(key), t)
    ]
    if meta.get("kind") not in KINDS:
        problems.append(f"kind {meta.get('kind')!r} is not one of {list(KINDS)}")
    if not MEMORY_ID_PATTERN.match(item_id):
        problems.append("id does not have the memory id shape")
    elif not problems:
        scope = meta.get("incidentId") or meta["sessionId"]
        ended = datetime.fromisoformat(str(meta["timestamp"]).replace("Z", "+00:00"))
        if memory_id(str(meta["kind"]), str(scope), ended, str(meta["eventId"])) != item_id:
            problems.append("id is not derivable from its event (kind, scope, time, event id)")
    return problems


def audit(settings: WorkerSettings, *, as_json: bool, limit: int = 50) -> int:
    """Check collections against the strategy and every item against the schema; 1 on problems."""
    expected = set(collection_names(settings).values())
    want_embedder = embedder_id(make_embedder(settings.embedder, settings.embed_threads))
    report: dict[str, Any] = {"missing": [], "extra": [], "embedder": {}, "items": {}}
    client = _client(settings)
    try:
        existing = {c.name for c in client.list_collections()}
        report["missing"] = sorted(expected - existing)
        prefix = (
            settings.chroma_collection
            if settings.unified_memory
            else settings.chroma_collection_prefix
        )
        report["extra"] = sorted(n for n in existing - expected if n.startswith(prefix))
        for name in sorted(expected & existing):
            col = client.get_collection(name)
            found = (col.metadata or {}).get("embedder")
            if reset := (col.metadata or {}).get("resetDetectedAt"):
                report.setdefault("reset", {})[name] = (
                    f"wiped or recreated at {reset}: {RESET_ADVICE}"
                )
            if found != want_embedder:
                report["embedder"][name] = f"{found!r}, expected {want_embedder!r}"
            bad = {i: p for i, meta in _items(col) if (p := _item_problems(i, meta))}
            if bad:
                report["items"][name] = {
                    "bad": len(bad),
                    "examples": dict(list(bad.items())[:limit]),
                }
    finally:
        close_client(client)
    ok = not (report["missing"] or report["embedder"] or report["items"] or report.get("reset"))
    report["ok"] = ok
    if as_json:
        _dump(report)
    else:
        for key in ("missing", "extra"):
            for name in report[key]:
                print(f"{key} collection: {name}")
        for name, problem in report.get("reset", {}).items():
            print(f"store reset in {name}: {problem}")
        for name, problem in report["embedder"].items():
            print(f"embedder mismatch in {name}: {problem}")
        for name, info in report["items"].items():
            print(f"{name}: {info['bad']} item(s) with problems, e.g.")
            for item_id, problems in list(info["examples"].items())[:5]:
                print(f"  {item_id}: {'; '.join(problems)}")
        print("audit ok" if ok else "audit found problems")
    return 0 if ok else 1


def register(commands: Any) -> None:
    """``tooltrail memory search|stats|audit``."""
    memory = subcommands(
        add(commands, "memory", "search, count and audit the vector memories"), "action"
    )
    p = add(memory, "search", "the memories nearest to a text")
    p.add_argument("text", nargs="+", type=nonblank, help="what to look for")
    p.add_argument("--tool", help="only this tool")
    p.add_argument("--kind", choices=list(KINDS), help="only this kind")
    p.add_argument("--environment", help="only this environment (scope)")
    p.add_argument("--domain", help="only this domain (scope)")
    p.add_argument("--k", type=positive_int, default=3, help="how many distinct situations")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(
        handler=lambda a: search(
            worker_settings(),
            " ".join(a.text),
            tool=a.tool,
            kind=a.kind,
            k=a.k,
            as_json=a.json,
            environment=a.environment,
            domain=a.domain,
        )
    )
    p = add(memory, "stats", "count and embedder per collection")
    p.add_argument("--detailed", action="store_true", help="also per kind and tool, newest item")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=lambda a: stats(worker_settings(), detailed=a.detailed, as_json=a.json))
    p = add(memory, "audit", "check collections and every memory against the schema (exit 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=lambda a: audit(worker_settings(), as_json=a.json))
