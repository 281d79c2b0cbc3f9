"""``bench emit`` prints where each instrumented variant's events went, beside its figures."""

from __future__ import annotations

from typing import Any

from tooltrail.consumers.app.bench.overhead import VARIANTS, lines


def _figures(name: str) -> dict[str, Any]:
    f: dict[str, Any] = {
        "p50_us": 1.0,
        "p99_us": 2.0,
        "p999_us": 3.0,
        "max_us": 4.0,
        "cpu_us_per_call": 5.0,
    }
    if name != "plain":
        f.update(added_p50_us=0.5, added_p99_us=0.6, added_cpu_us=0.7)
    if name.startswith("tooltrail"):
        spilled = 0 if name == "tooltrail_up" else 14_000
        f["events"] = {
            "emitted": 14_000,
            "sent": 14_000 - spilled,
            "spilled": spilled,
            "dropped": 0,
        }
    return f


def test_the_instrumented_variants_say_where_their_events_went() -> None:
    result = {"rounds": 7, "calls_per_round": 2000, "variants": {v: _figures(v) for v in VARIANTS}}
    out = lines("mcp", result)
    events = [line.strip() for line in out if "events:" in line]
    assert events == [
        "events: 14000 emitted, 14000 sent, 0 spilled, 0 dropped",
        "events: 14000 emitted, 0 sent, 14000 spilled, 0 dropped",
    ]
    # each events line follows its own variant's figures
    assert "tooltrail_up" in out[out.index(next(x for x in out if ", 0 spilled" in x)) - 1]
