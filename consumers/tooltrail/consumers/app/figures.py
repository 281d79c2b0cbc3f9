"""Small statistics over samples: quantiles and medians, as the CLI and endpoints print them."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of ``values`` (nearest rank), rounded to 3 places."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)], 3)


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p99 and count of a sample."""
    return {"p50": pct(values, 0.5), "p99": pct(values, 0.99), "n": len(values)}


def median(values: Sequence[float]) -> float:
    """The median, rounded to 3 places."""
    return round(statistics.median(values), 3)
