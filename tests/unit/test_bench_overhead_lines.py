"""``bench emit`` prints where each instrumented variant's events went, beside its figures."""

from __future__ import annotations

from typing import Any

from tooltrail.consumers.app.bench.overhead import VARIANTS, lines, paired
from tooltrail.consumers.app.bench.overhead import _figures as figures_of


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


def test_tooltrail_is_compared_with_opentelemetry_round_by_round() -> None:
    # the round-to-round swing (+-100 us) dwarfs the 10 us gap: per-round pairs see through it
    otel = [300.0, 180.0, 420.0, 250.0, 390.0]
    ours = [o - 10.0 for o in otel]
    ours[2] += 30.0  # one round where ours was higher
    f = paired(ours, otel)
    assert f["median_diff"] == -10.0
    assert (f["not_higher"], f["rounds"]) == (4, 5)
    low, high = f["interval_90"]
    assert low <= -10.0 <= high <= 20.0
    assert low == -10.0  # four of five differences are -10: most resamples' median is too


def test_the_interval_is_the_value_when_every_round_agrees_and_widens_with_spread() -> None:
    assert paired([5.0, 6.0, 7.0], [1.0, 2.0, 3.0])["interval_90"] == (4.0, 4.0)
    wide = paired([0.0, 50.0, -40.0, 10.0, 90.0, -70.0, 30.0], [0.0] * 7)
    narrow = paired([9.0, 10.0, 11.0, 10.0, 10.0, 9.0, 11.0], [0.0] * 7)
    width = lambda f: f["interval_90"][1] - f["interval_90"][0]  # noqa: E731
    assert width(wide) > 5 * width(narrow)
    assert narrow["not_higher"] == 0
    # one wild round out of seven moves the resampled median in under 5 % of the resamples
    assert paired([-100.0] + [0.0] * 6, [0.0] * 7)["interval_90"] == (0.0, 0.0)
    assert paired([100.0] + [0.0] * 6, [0.0] * 7)["interval_90"] == (0.0, 0.0)


def test_the_figures_hold_a_paired_comparison_per_tooltrail_variant() -> None:
    base = {"p50": [100.0, 110.0], "p99": [300.0, 310.0], "cpu": [90.0, 95.0]}
    per_round = {v: {k: list(xs) for k, xs in base.items()} for v in VARIANTS}
    per_round["otel_otlp"]["p50"] = [130.0, 150.0]
    per_round["tooltrail_down"]["p50"] = [140.0, 140.0]
    pooled = {v: [1.0, 2.0] for v in VARIANTS}
    out = figures_of(per_round, pooled, 2, 2, {})
    assert set(out["versus"]) == {"tooltrail_up", "tooltrail_down"}
    assert out["versus"]["tooltrail_up"]["p50"]["median_diff"] == -35.0
    assert out["versus"]["tooltrail_down"]["p50"]["not_higher"] == 1
    assert out["versus"]["tooltrail_up"]["cpu"]["median_diff"] == 0.0
    assert out["versus"]["tooltrail_up"]["cpu"]["not_higher"] == 2  # a tie is not higher
    printed = lines("mcp", out)
    up = next(x for x in printed if x.strip().startswith("tooltrail_up") and "minus" in x)
    assert "p50 -35.0 us" in up
    assert "not higher in 2/2" in up
    assert "CPU +0.0 us" in up
