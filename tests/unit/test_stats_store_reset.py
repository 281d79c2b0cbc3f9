"""``tooltrail stats`` says when a memory store was wiped under a worker (issue 28).

The member's status record carries the sink's resets; ``stats`` keeps them from every record
of the group (the member that saw the wipe may have stopped) and points to the rebuild.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tooltrail.consumers.app.commands import ops
from tooltrail.consumers.observability.group_stats import GroupStats
from tooltrail.consumers.observability.status import status_record


def _data() -> dict[str, Any]:
    row = {"partition": 0, "committed": 5, "highwater": 5, "lag": 0}
    groups = {g: {"lag": 0, "partitions": [row]} for g in ("metrics", "memory")}
    return {"topic": "events", "groups": groups, "dlq": {"topic": "dlq", "messages": 0}}


def _record(group: str, state: str, resets: int = 0, at: str | None = None) -> dict[str, Any]:
    stats = GroupStats(group=group, sink=group, connected=True)
    stats.store_resets, stats.store_reset_at = resets, at
    return status_record(stats, state)


def test_a_reset_seen_by_a_stopped_member_shows_in_stats_with_the_rebuild_advice() -> None:
    status = {
        "memory/a": {**_record("memory", "stopped", 1, "2026-12-06T10:00:00+00:00"), "member": "a"},
        "memory/b": {**_record("memory", "running", 2, "2026-12-06T11:00:00+00:00"), "member": "b"},
        "metrics/c": _record("metrics", "running"),
    }
    data = _data()
    ops.merge_status(data, status, time.time(), 60)
    reset = data["groups"]["memory"]["storeReset"]
    assert reset["resets"] == 3
    assert reset["lastAt"] == "2026-12-06T11:00:00+00:00"
    assert reset["member"] == "b"
    assert "tooltrail replay memory --swap" in reset["advice"]
    assert data["groups"]["metrics"]["storeReset"] is None
    assert [m["member"] for m in data["groups"]["memory"]["members"]] == ["b"]
    text = ops.render(data)
    wiped = [line for line in text.splitlines() if "WIPED" in line]
    assert len(wiped) == 1
    assert "3 time(s)" in wiped[0]
    assert "2026-12-06T11:00:00" in wiped[0]
    assert "replay memory --swap" in wiped[0]
    orjson.dumps(data)  # the --json form holds it as plain JSON


def test_no_reset_says_nothing() -> None:
    data = _data()
    ops.merge_status(data, {"memory/a": _record("memory", "running")}, time.time(), 60)
    assert data["groups"]["memory"]["storeReset"] is None
    assert "WIPED" not in ops.render(data)


def test_stats_json_carries_the_reset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fake_stats(settings: Any) -> dict[str, Any]:
        data = _data()
        record = _record("memory", "running", 1, "2026-12-06T12:00:00+00:00")
        ops.merge_status(data, {"memory/x": record}, time.time(), 60)
        return data

    monkeypatch.setattr(ops, "_stats", fake_stats)
    assert ops.stats(object(), as_json=True) == 0  # type: ignore[arg-type]
    out = orjson.loads(capsys.readouterr().out)
    assert out["groups"]["memory"]["storeReset"]["resets"] == 1
    assert ops.stats(object(), as_json=False) == 0  # type: ignore[arg-type]
    assert "replay memory --swap" in capsys.readouterr().out
